"""The errors of reading images: the bottom layer of :mod:`l2vision.io`.

Every failure to turn a file, a URL, bytes or an array into a usable image
raises :class:`ImageReadError`, whose message names the image and the reason;
batch work records it as an error row and goes on.
"""

from __future__ import annotations

__all__ = ["ImageNotFoundError", "ImageReadError"]


class ImageReadError(ValueError):
    """An image could not be read or is not a usable image.

    Parameters
    ----------
    source : str
        The file path (or ``"<bytes>"`` / ``"X[i]"``) that failed.
    reason : str
        What was wrong, in a few words.

    Attributes
    ----------
    source : str
    reason : str

    Examples
    --------
    >>> print(ImageReadError("a.jpg", "file is empty (0 bytes)"))
    a.jpg: file is empty (0 bytes)
    """

    def __init__(self, source: str, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")

    def __reduce__(self):
        # Keep the two-argument constructor working across process boundaries.
        return (type(self), (self.source, self.reason))


class ImageNotFoundError(ImageReadError, FileNotFoundError):
    """The image file does not exist (also a :class:`FileNotFoundError`)."""
