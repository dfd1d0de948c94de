"""Common image corruptions at severities 1-5, for robustness tests and training augmentation.

The ImageNet-C families of Hendrycks & Dietterich [1]_ (noise, blur, color and
digital corruptions), written with NumPy and OpenCV after the paper's
definitions, plus the geometric changes users meet in practice (a small
rotation, a scale-and-crop, a horizontal flip, an occluding patch).

Every corruption is a pure function ``(image, severity, rng) -> image``:
``image`` is an l2vision image (uint8, BGR ``(H, W, 3)`` or gray ``(H, W)``),
``severity`` an int from 0 (the identity) to 5, ``rng`` a
``numpy.random.Generator`` (the only source of randomness: the same seed gives
the same image). The result has the input's shape and dtype.

Parameter tables. The paper gives two tables: one for ImageNet's 224 x 224
images and a milder one for CIFAR-10's 32 x 32 thumbnails (its CIFAR-10-C).
Images whose shorter side is under 112 pixels use the thumbnail table;
larger ones use the ImageNet table, with the spatial parameters (blur radii
and sigmas, the motion length) scaled by ``shorter side / 224`` so that a
12-megapixel photo is blurred as much, relative to its size, as a 224-pixel
one. Noise, color and JPEG parameters do not depend on the size. The
geometric corruptions are l2vision's own: rotation by 3-15 degrees (random
sign), keeping 95%-70% of each side around a random point and resizing back,
a flip (the same at every severity), and a mid-gray square covering 2%-25%
of the image at a random place.

The strings users give (``"noise,flip"``, ``"1-3"``, ``"crop:2"``) are read
by :mod:`l2vision.corruptions.specs`.

Pixel values are rounded to the nearest integer (the paper's code truncates
when it saves files: a difference of at most one level).

References
----------
.. [1] D. Hendrycks and T. Dietterich, "Benchmarking Neural Network Robustness
   to Common Corruptions and Perturbations", ICLR 2019.

Examples
--------
>>> import numpy as np
>>> image = np.full((32, 32, 3), 100, np.uint8)
>>> rng = np.random.default_rng(0)
>>> bool(corrupt(image, "brightness", 3, rng).mean() > image.mean())
True
>>> bool((corrupt(image, "flip", 0, rng) == image).all())
True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

__all__ = ["CORRUPTIONS", "FAMILIES", "SEVERITIES", "corrupt", "corruption_function",
           "corruption_rng"]

#: Valid severities; 0 is the identity.
SEVERITIES = (1, 2, 3, 4, 5)

#: Shorter sides under this use the thumbnail (CIFAR-10-C) table.
_THUMBNAIL_SIDE = 112

# (thumbnail table, ImageNet table), one entry per severity 1-5.
_TABLES = {
    "gaussian_noise": ((0.04, 0.06, 0.08, 0.09, 0.10), (0.08, 0.12, 0.18, 0.26, 0.38)),
    "shot_noise": ((500, 250, 100, 75, 50), (60, 25, 12, 5, 3)),
    "impulse_noise": ((0.01, 0.02, 0.03, 0.05, 0.07), (0.03, 0.06, 0.09, 0.17, 0.27)),
    "defocus_blur": (((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
                     ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))),
    "motion_blur": (((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
                    ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))),
    "gaussian_blur": ((0.4, 0.6, 0.7, 0.8, 1.0), (1, 2, 3, 4, 6)),
    "brightness": ((0.05, 0.1, 0.15, 0.2, 0.3), (0.1, 0.2, 0.3, 0.4, 0.5)),
    "contrast": ((0.75, 0.5, 0.4, 0.3, 0.15), (0.4, 0.3, 0.2, 0.1, 0.05)),
    "saturate": (((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
                 ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))),
    "jpeg_compression": ((80, 65, 58, 50, 40), (25, 18, 15, 10, 7)),
    "pixelate": ((0.95, 0.9, 0.85, 0.75, 0.65), (0.6, 0.5, 0.4, 0.3, 0.25)),
}
_ROTATE_DEGREES = (3, 6, 9, 12, 15)
_CROP_KEEP = (0.95, 0.9, 0.85, 0.8, 0.7)
_OCCLUDE_AREA = (0.02, 0.05, 0.1, 0.15, 0.25)
_OCCLUDE_GRAY = 128


def _parameter(name: str, image: np.ndarray, severity: int):
    """The table entry of ``name`` at ``severity`` for this image's size, and the spatial scale."""
    shorter = min(image.shape[:2])
    if shorter < _THUMBNAIL_SIDE:
        return _TABLES[name][0][severity - 1], 1.0
    return _TABLES[name][1][severity - 1], shorter / 224


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (float) as rounded uint8 pixels."""
    return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)


def _unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255


# -- noise --------------------------------------------------------------------
def gaussian_noise(image, severity, rng):
    """Additive Gaussian noise of standard deviation c (pixel values in [0, 1])."""
    c, _ = _parameter("gaussian_noise", image, severity)
    return _to_uint8(_unit(image) + rng.normal(scale=c, size=image.shape))


def shot_noise(image, severity, rng):
    """Poisson (photon) noise: ``Poisson(x c) / c`` with x in [0, 1]."""
    c, _ = _parameter("shot_noise", image, severity)
    return _to_uint8(rng.poisson(_unit(image) * c) / c)


def impulse_noise(image, severity, rng):
    """Salt and pepper: a fraction c of the values set to 0 or 255, half each."""
    c, _ = _parameter("impulse_noise", image, severity)
    out = image.copy()
    hit = rng.random(image.shape) < c
    salt = rng.random(image.shape) < 0.5
    out[hit & salt] = 255
    out[hit & ~salt] = 0
    return out


# -- blur ---------------------------------------------------------------------
@lru_cache(maxsize=64)
def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """A flat disk of ``radius`` pixels, anti-aliased by a small Gaussian (the paper's)."""
    half = max(8, int(np.ceil(radius)))
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    disk /= disk.sum()
    ksize = (3, 3) if radius <= 8 else (5, 5)
    return cv2.GaussianBlur(disk, ksize, sigmaX=alias_blur)


def defocus_blur(image, severity, rng):
    """Convolution with a disk (an out-of-focus lens), radius scaled to the image size."""
    (radius, alias_blur), scale = _parameter("defocus_blur", image, severity)
    kernel = _disk_kernel(round(radius * scale, 2), alias_blur)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


@lru_cache(maxsize=256)
def _motion_kernel(radius: float, sigma: float, degrees: int) -> np.ndarray:
    """A one-sided Gaussian-weighted line (ImageMagick's motion blur) at ``degrees``."""
    length = max(1, int(np.ceil(min(radius, 3 * sigma))))
    half = length
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    angle = np.deg2rad(degrees)
    for t in range(length + 1):
        x = half + int(round(t * np.cos(angle)))
        y = half - int(round(t * np.sin(angle)))
        kernel[y, x] += np.exp(-(t**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def motion_blur(image, severity, rng):
    """Blur along a line at a random angle in [-45, 45] degrees (camera shake)."""
    (radius, sigma), scale = _parameter("motion_blur", image, severity)
    degrees = int(rng.integers(-45, 46))
    kernel = _motion_kernel(round(radius * scale, 2), round(sigma * scale, 2), degrees)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def gaussian_blur(image, severity, rng):
    """Gaussian blur of standard deviation sigma (scaled to the image size)."""
    sigma, scale = _parameter("gaussian_blur", image, severity)
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma * scale, borderType=cv2.BORDER_REFLECT)


# -- color and digital ----------------------------------------------------------
def _hsv_change(image, change: Callable[[np.ndarray], None]):
    """Apply ``change`` to the float HSV image (S and V in [0, 1]) in place; back to uint8."""
    hsv = cv2.cvtColor(_unit(image), cv2.COLOR_BGR2HSV)
    change(hsv)
    return _to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))


def brightness(image, severity, rng):
    """Add c to the HSV value channel (the intensity of a gray image)."""
    c, _ = _parameter("brightness", image, severity)
    if image.ndim == 2:
        return _to_uint8(_unit(image) + c)

    def brighten(hsv):
        hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return _hsv_change(image, brighten)


def contrast(image, severity, rng):
    """Pull every pixel toward its channel's mean: ``(x - mean) c + mean``."""
    c, _ = _parameter("contrast", image, severity)
    x = _unit(image)
    mean = x.mean(axis=(0, 1), keepdims=True)
    return _to_uint8((x - mean) * c + mean)


def saturate(image, severity, rng):
    """Scale and shift the HSV saturation: ``s c0 + c1`` (no change on a gray image)."""
    (factor, shift), _ = _parameter("saturate", image, severity)
    if image.ndim == 2:
        return image.copy()

    def scale_saturation(hsv):
        hsv[..., 1] = np.clip(hsv[..., 1] * factor + shift, 0, 1)
    return _hsv_change(image, scale_saturation)


def jpeg_compression(image, severity, rng):
    """Encode as JPEG at quality q and decode again (OpenCV's libjpeg)."""
    quality, _ = _parameter("jpeg_compression", image, severity)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    flags = cv2.IMREAD_GRAYSCALE if image.ndim == 2 else cv2.IMREAD_COLOR
    return cv2.imdecode(encoded, flags)


def pixelate(image, severity, rng):
    """Shrink each side by a factor c (area average) and blow it back up (nearest)."""
    c, _ = _parameter("pixelate", image, severity)
    height, width = image.shape[:2]
    small = cv2.resize(image, (max(1, int(width * c)), max(1, int(height * c))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


# -- geometric ------------------------------------------------------------------
def rotate(image, severity, rng):
    """Rotate about the center by 3-15 degrees, random sign; borders reflected."""
    degrees = _ROTATE_DEGREES[severity - 1] * (1 if rng.random() < 0.5 else -1)
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def crop(image, severity, rng):
    """Keep 95%-70% of each side at a random place and resize back (zoom in)."""
    keep = _CROP_KEEP[severity - 1]
    height, width = image.shape[:2]
    h, w = max(1, round(height * keep)), max(1, round(width * keep))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    return cv2.resize(image[top:top + h, left:left + w], (width, height),
                      interpolation=cv2.INTER_LINEAR)


def flip(image, severity, rng):
    """Mirror left to right (the same at every severity)."""
    return np.ascontiguousarray(image[:, ::-1])


def occlude(image, severity, rng):
    """A mid-gray square covering 2%-25% of the image area at a random place."""
    height, width = image.shape[:2]
    side = max(1, round(np.sqrt(_OCCLUDE_AREA[severity - 1] * height * width)))
    h, w = min(side, height), min(side, width)
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    out = image.copy()
    out[top:top + h, left:left + w] = _OCCLUDE_GRAY
    return out


#: Every corruption by name, in the order of reports.
CORRUPTIONS: dict[str, Callable] = {f.__name__: f for f in (
    gaussian_noise, shot_noise, impulse_noise, defocus_blur, motion_blur, gaussian_blur,
    brightness, contrast, saturate, jpeg_compression, pixelate, rotate, crop, flip, occlude)}

#: The corruptions grouped as in the paper (noise, blur, digital), plus the geometric ones.
FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "motion_blur", "gaussian_blur"),
    "digital": ("brightness", "contrast", "saturate", "jpeg_compression", "pixelate"),
    "geometric": ("rotate", "crop", "flip", "occlude"),
}


def corrupt(image: np.ndarray, name: str, severity: int,
            rng: np.random.Generator) -> np.ndarray:
    """Apply the corruption ``name`` at ``severity`` (0: an unchanged copy).

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3) in BGR order or (H, W)
    name : str
        One of :data:`CORRUPTIONS`.
    severity : int
        0 to 5.
    rng : numpy.random.Generator
        Source of the corruption's randomness (noise, angle, position).

    Returns
    -------
    ndarray of uint8, the shape of ``image``

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), severity outside
        0-5, or not a uint8 image.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    >>> bool((corrupt(image, "flip", 1, np.random.default_rng(0)) == image[:, ::-1]).all())
    True
    """
    function = corruption_function(name)
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) \
            or not 0 <= severity <= 5:
        raise ValueError(f"corruption {name!r}: severity must be an int from 0 (none) to 5, "
                         f"got {severity!r}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3
                                       and image.shape[2] == 3):
        raise ValueError(f"corruption {name!r}: expected a uint8 image of shape (H, W) or "
                         f"(H, W, 3), got {image.dtype} {image.shape}")
    if severity == 0:
        return image.copy()
    return function(image, int(severity), rng)


def corruption_function(name: str) -> Callable:
    """The function of corruption ``name``; a ValueError listing the known ones otherwise."""
    try:
        return CORRUPTIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}") \
            from None


def corruption_rng(seed: int, image_index: int, name: str, severity: int) -> np.random.Generator:
    """The generator of one image's corruption: depends on nothing but its arguments.

    So the corrupted images do not depend on batch sizes, worker counts or the
    order in which corruptions are applied.

    Examples
    --------
    >>> a = corruption_rng(0, 7, "shot_noise", 2).random()
    >>> a == corruption_rng(0, 7, "shot_noise", 2).random()
    True
    >>> a == corruption_rng(0, 8, "shot_noise", 2).random()
    False
    """
    number = list(CORRUPTIONS).index(name)
    return np.random.default_rng([seed, image_index, number, severity])
