"""Reading images, safely: files, folders, URLs, headers and decoding.

The modules form one direction of imports, bottom up:

- :mod:`~l2vision.io.errors`: :class:`ImageReadError`, :class:`ImageNotFoundError`;
- :mod:`~l2vision.io.files`: local files read safely (regular files only,
  never blocking, size-capped) and the folder walk;
- :mod:`~l2vision.io.writing`: files written all or nothing, file hashes;
- :mod:`~l2vision.io.remote`: URLs through fsspec, and :func:`read_bytes`
  for any source;
- :mod:`~l2vision.io.header`: image sizes from their headers (the
  decompression-bomb guard);
- :mod:`~l2vision.io.decode`: decoding, checking and converting pixels.

Names are imported lazily: ``l2vision.io.ImageReadError`` does not load OpenCV.
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "ImageNotFoundError": ".errors",
    "ImageReadError": ".errors",
    "IMAGE_EXTENSIONS": ".files",
    "is_image_path": ".files",
    "read_file_bytes": ".files",
    "walk_images": ".files",
    "read_bytes": ".remote",
    "DEFAULT_MAX_PIXELS": ".decode",
    "read_image": ".decode",
    "check_image": ".decode",
    "convert_color": ".decode",
    "resize_image": ".decode",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
