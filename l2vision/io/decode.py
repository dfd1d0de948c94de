"""Decode and check images: the top of :mod:`l2vision.io`, the one place that knows pixels.

Everything downstream (the extractors, the driver, batch scoring) receives
``uint8`` arrays in OpenCV's BGR channel order, shape ``(H, W, 3)``, or gray
``(H, W)``. Every failure to turn a file into such an array raises
:class:`~l2vision.io.errors.ImageReadError`, whose message names the file and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# OpenCV's own decompression-bomb limit (2**30 pixels by default) for the
# formats whose header l2vision does not parse; OpenCV reads it when it is
# loaded, so it is set here, where images are decoded, before cv2 is imported.
# (A program that imported cv2 earlier keeps OpenCV's limit; l2vision's own
# header check still applies.)
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "100000000")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from l2vision.config import get_config  # noqa: E402
from l2vision.io.errors import ImageReadError  # noqa: E402
from l2vision.io.files import DEFAULT_MAX_BYTES  # noqa: E402
from l2vision.io.header import read_header  # noqa: E402
from l2vision.io.remote import read_bytes  # noqa: E402

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageSource",
    "as_image",
    "check_image",
    "convert_color",
    "image_name",
    "image_sequence",
    "jpeg_reduction",
    "limit_side",
    "quiet_opencv",
    "read_image",
    "resize_image",
]

#: Default decompression-bomb guard: images with more pixels are refused.
DEFAULT_MAX_PIXELS = 100_000_000

ImageSource = str | os.PathLike | bytes | np.ndarray
_COLORS = ("bgr", "gray")


class quiet_opencv:  # noqa: N801 - a context manager used like a function
    """Silence OpenCV's logger for a block (its decoders' and importers' "[ERROR:0@...]" lines).

    A scoring run over millions of files with a few bad ones must not flood the
    terminal: the reason of each failure is in its error row instead. (A class,
    not a generator: it wraps every decode, so it must cost well under a microsecond.)
    """

    __slots__ = ("previous",)
    _logging = cv2.utils.logging

    def __enter__(self):
        self.previous = self._logging.getLogLevel()
        self._logging.setLogLevel(self._logging.LOG_LEVEL_SILENT)
        return self

    def __exit__(self, *exc):
        self._logging.setLogLevel(self.previous)


def _check_color(color: str) -> None:
    if color not in _COLORS:
        raise ValueError(f"The 'color' parameter must be one of {_COLORS}. Got {color!r}.")


_REDUCED = {("bgr", 2): cv2.IMREAD_REDUCED_COLOR_2, ("bgr", 4): cv2.IMREAD_REDUCED_COLOR_4,
            ("bgr", 8): cv2.IMREAD_REDUCED_COLOR_8, ("gray", 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
            ("gray", 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
            ("gray", 8): cv2.IMREAD_REDUCED_GRAYSCALE_8}


def jpeg_reduction(width: int, height: int, min_size: tuple | None) -> int:
    """The largest JPEG decoding scale 1/r (r in 1, 2, 4, 8) whose image still covers ``min_size``.

    Both sides of the reduced image must be at least the larger side of
    ``min_size``, whatever the EXIF orientation turns out to be.

    Examples
    --------
    >>> jpeg_reduction(4000, 3000, (224, 224)), jpeg_reduction(400, 533, (224, 224))
    (8, 1)
    >>> jpeg_reduction(32, 32, (32, 32)), jpeg_reduction(4000, 3000, None)
    (1, 1)
    """
    if not min_size:
        return 1
    need = max(min_size)
    for r in (8, 4, 2):
        if min(width, height) // r >= need:
            return r
    return 1


def read_image(
    source: str | os.PathLike | bytes,
    *,
    color: str = "bgr",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_size: tuple[int, int] | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """Decode an image file (or its bytes) into a ``uint8`` BGR or gray array.

    The file is read with Python and decoded with ``cv2.imdecode``, so paths
    with non-ASCII characters work on every platform. JPEG, PNG, BMP, TIFF,
    WebP, GIF and the Netpbm formats are supported.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file path, or the encoded bytes of an image.
    color : {"bgr", "gray"}, default="bgr"
        ``"bgr"`` gives ``(H, W, 3)`` in OpenCV's channel order; ``"gray"``
        gives ``(H, W)``.
    max_pixels : int or None, default=100_000_000
        Refuse images with more pixels (a decompression-bomb guard). The size
        is read from the header before any pixel is decoded
        (:mod:`l2vision.io.header`); a file whose header does not give it is
        refused unless the ``allow_unchecked_formats`` setting is on (then
        checked after decoding). None disables the check (OpenCV's own limit
        of 100 million pixels remains when l2vision loaded OpenCV).
    max_bytes : int or None, default=512 MiB
        Refuse files larger than this. Only regular files are read, opened
        without blocking (a named pipe or a device is refused, never waited
        on): see :func:`~l2vision.io.files.read_file_bytes`.
    min_size : (int, int) or None, default=None
        The smallest ``(width, height)`` the caller needs. A JPEG much larger
        than that is decoded at 1/2, 1/4 or 1/8 scale in libjpeg's DCT domain
        (:func:`jpeg_reduction`), several times faster than a full decode
        followed by a resize; other formats are decoded in full.

    Returns
    -------
    image : ndarray of uint8, shape (H, W, 3) or (H, W)
        Gray files are replicated to three channels in ``"bgr"`` mode; an alpha
        channel is dropped (pixels are not composited); palette images are
        expanded; 16-bit images are scaled to 8 bits (the high byte is kept);
        the EXIF orientation of JPEG files is applied.

    Raises
    ------
    ImageNotFoundError
        The file does not exist.
    ImageReadError
        The file is empty, is not an image, is truncated, has more than
        ``max_pixels`` pixels, is larger than ``max_bytes``, or is not a regular
        file (directory, named pipe, socket, device, link loop). The message
        names the file and the reason.

    Examples
    --------
    >>> import cv2, numpy as np
    >>> ok, png = cv2.imencode(".png", np.full((4, 6, 3), 200, np.uint8))
    >>> read_image(png.tobytes()).shape
    (4, 6, 3)
    >>> read_image(png.tobytes(), color="gray").shape
    (4, 6)
    """
    _check_color(color)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, data = "<bytes>", bytes(source)
    else:
        name, data = os.fspath(source), read_bytes(source, max_bytes=max_bytes)
    if not data:
        raise ImageReadError(name, "file is empty (0 bytes)")
    header = read_header(data)
    if (header is None or header.width is None or header.height is None) \
            and max_pixels is not None and not get_config()["allow_unchecked_formats"]:
        raise ImageReadError(name, _unchecked_reason(header))
    if header is not None:
        _check_size(name, header.width, header.height, max_pixels)
        if header.complete is False:
            raise ImageReadError(
                name, f"truncated {header.format.upper()} file (the data ends early)"
            )
    flag = cv2.IMREAD_COLOR if color == "bgr" else cv2.IMREAD_GRAYSCALE
    if header is not None and header.format == "jpeg" and header.width and header.height:
        factor = jpeg_reduction(header.width, header.height, min_size)
        flag = _REDUCED[color, factor] if factor > 1 else flag
    try:
        with quiet_opencv():
            image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:
        raise ImageReadError(name, f"cannot be decoded ({exc.err})") from None
    if image is None:
        what = header.format.upper() if header else "a supported image format"
        reason = (f"cannot be decoded as {what} (corrupt or truncated data)" if header
                  else "not an image, or not a format OpenCV can decode")
        raise ImageReadError(name, reason)
    _check_size(name, image.shape[1], image.shape[0], max_pixels)
    return image


def _unchecked_reason(header) -> str:
    """Why a file whose size cannot be read from its header is refused."""
    if header is None:
        return ("not an image, or not a format l2vision reads (JPEG, PNG, WebP, TIFF, BMP, "
                "GIF, Netpbm, Sun raster, Radiance HDR, AVIF, JPEG 2000)")
    return (f"the {header.format.upper()} header does not give the image's size "
            f"({header.note or 'not found'}); refused before decoding (allow it with the "
            "allow_unchecked_formats setting if the file is trusted)")


def _check_size(name: str, width, height, max_pixels: int | None) -> None:
    """Raise when ``width * height`` is over the pixel limit."""
    if max_pixels is None or width is None or height is None:
        return
    if width * height > max_pixels:
        raise ImageReadError(
            name,
            f"image is {width}x{height} = {width * height:,} pixels, more than the "
            f"limit of {max_pixels:,} (raise max_pixels if the file is trusted)",
        )


def check_image(image, *, name: str = "image") -> np.ndarray:
    """Check a decoded image and return it as ``(H, W)`` or ``(H, W, 3)`` uint8.

    A single-channel ``(H, W, 1)`` image is squeezed to ``(H, W)``; a BGRA
    ``(H, W, 4)`` image loses its alpha channel.

    Parameters
    ----------
    image : array-like
        The image to check.
    name : str, default="image"
        How to name the image in error messages, e.g. ``"X[3]"``.

    Raises
    ------
    ImageReadError
        Not a uint8 array, wrong number of dimensions or channels, or empty.

    Examples
    --------
    >>> import numpy as np
    >>> check_image(np.zeros((4, 4, 1), np.uint8)).shape
    (4, 4)
    """
    if not isinstance(image, np.ndarray):
        raise ImageReadError(name, f"expected a numpy array or a path, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageReadError(
            name,
            f"images must be uint8, got {image.dtype}; convert floats in [0, 1] "
            "with skimage.util.img_as_ubyte",
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ImageReadError(
            name, f"expected shape (H, W) or (H, W, 3) in BGR order, got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageReadError(name, f"image is empty, shape {image.shape}")
    return image


def convert_color(image: np.ndarray, color: str) -> np.ndarray:
    """Return a checked image as ``"bgr"`` (H, W, 3) or ``"gray"`` (H, W).

    Examples
    --------
    >>> import numpy as np
    >>> convert_color(np.zeros((2, 3), np.uint8), "bgr").shape
    (2, 3, 3)
    """
    if color == "gray":
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize to ``size = (width, height)``; area interpolation when shrinking.

    ``None`` or the image's own size returns the image unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> resize_image(np.zeros((10, 20), np.uint8), (5, 4)).shape
    (4, 5)
    """
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, tuple(size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def limit_side(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink an image whose longer side exceeds ``max_side``, keeping its aspect ratio.

    Area interpolation; smaller images (and ``max_side=None``) are returned as they are.

    Examples
    --------
    >>> import numpy as np
    >>> limit_side(np.zeros((400, 600), np.uint8), 300).shape
    (200, 300)
    """
    longer = max(image.shape[:2])
    if max_side is None or longer <= max_side:
        return image
    scale = max_side / longer
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def as_image(item: ImageSource, *, name: str = "image",
             max_pixels: int | None = DEFAULT_MAX_PIXELS,
             min_size: tuple[int, int] | None = None) -> np.ndarray:
    """One element of an image sequence (a path, bytes or an array) as a checked array.

    Paths and bytes are decoded in BGR (large JPEGs at a reduced scale that
    still covers ``min_size``); arrays are checked, not copied.
    """
    if isinstance(item, np.ndarray):
        return check_image(item, name=name)
    if isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview)):
        return read_image(item, max_pixels=max_pixels, min_size=min_size)
    return check_image(item, name=name)


def image_name(item, index: int) -> str:
    """How to name an image in reports: its path, or ``image[index]`` for an array.

    Examples
    --------
    >>> import numpy as np
    >>> image_name("a.jpg", 0), image_name(np.zeros((2, 2), np.uint8), 3)
    ('a.jpg', 'image[3]')
    """
    return f"image[{index}]" if isinstance(item, np.ndarray) else str(item)


def image_sequence(X) -> Sequence:
    """Accept a sequence of images (or an ImageSet) and return something indexable.

    A single 2-D or 3-D array is ambiguous and treated as a batch along axis 0
    only when it is 3-D or 4-D, like iterating over it would do.
    """
    images = getattr(X, "images", X)
    if isinstance(images, (str, os.PathLike, bytes)):
        raise ValueError(
            "Expected a sequence of images or paths, got a single "
            f"{type(images).__name__}; wrap it in a list: [{images!r}]"
        )
    if isinstance(images, np.ndarray) and images.ndim < 3:
        raise ValueError(
            f"Expected a sequence of images, got one array of shape {images.shape}; "
            "wrap a single image in a list."
        )
    return images
