"""The one exception type users see.

Everything a user can get wrong (a missing directory, a corrupt file, an
unknown dataset name, a bad hyperparameter) raises :class:`ImgclassError`
with a message that says what is wrong and what to do about it. The command
line prints that message without a traceback and exits non-zero.
"""


class ImgclassError(Exception):
    """A problem the user can fix; the message says how."""


class DataError(ImgclassError):
    """A dataset could not be found, read or validated."""


def check_config_dict(cls, d, what: str) -> None:
    """Raise unless ``d`` is a dict whose keys are fields of the dataclass ``cls`` (a stored config)."""
    import dataclasses

    if not isinstance(d, dict):
        raise ImgclassError(f"a {what} must be a JSON object, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ImgclassError(f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
