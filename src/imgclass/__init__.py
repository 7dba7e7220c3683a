"""imgclass: image classification from a linear classifier to a tuned CNN."""

from imgclass.errors import DataError, ImgclassError

__version__ = "0.1.0"
__all__ = ["DataError", "ImgclassError", "__version__"]
