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


def os_error_message(e: OSError, then: str = "run the command again") -> str:
    """What an OS error means for the user and what to do: the ``imgclass: error:`` text for it.

    ``then`` is the step after the fix (a training run says how to resume).
    """
    import errno

    where = e.filename if e.filename is not None else "a file"
    if e.filename2 is not None:
        where = f"{e.filename} -> {e.filename2}"
    reason = e.strerror or str(e)
    advice = {
        errno.ENOSPC: "free some space there",
        errno.EDQUOT: "free some space (the disk quota is used up)",
        errno.EFBIG: "the file-size limit (ulimit -f) is too small for this file: raise it",
        errno.EACCES: "choose a place you may write to (--out) or fix its permissions",
        errno.EPERM: "choose a place you may write to (--out) or fix its permissions",
        errno.EROFS: "the file system is read-only: choose another place (--out)",
        errno.ENOTDIR: "a part of this path is a file, not a folder: choose another path",
        errno.EISDIR: "this is a folder: give a file name",
        errno.EEXIST: "something of that name exists already (a file where a folder is needed?): choose another path",
        errno.ENOENT: "check the path",
        errno.ENAMETOOLONG: "choose a shorter name",
    }.get(e.errno, "check the path, its permissions and the free space")
    return f"{where}: {reason}; {advice}, then {then} (files written before are unchanged)"
