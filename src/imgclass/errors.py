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
