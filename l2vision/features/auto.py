"""``auto``: choose the features from the images themselves.

The rule, measured on the data at hand (README, "Choosing features"): images
whose short side is under :data:`SMALL_SIDE` pixels (the 8x8 digits) get the
hand-crafted set, which a CNN cannot beat on them; everything else (CIFAR-10
thumbnails, photos) gets the ``photo`` recipe: MobileNet V2 layers pooled over
a spatial pyramid, flip-averaged.
"""

from __future__ import annotations

import os

import numpy as np

from l2vision.io.decode import as_image
from l2vision.io.errors import ImageReadError
from l2vision.io.header import read_header

__all__ = ["PHOTO_LAYERS", "PHOTO_SPEC", "SMALL_SIDE", "choose_features", "photo_spec"]

#: Below this short side (median over a sample, pixels), hand-crafted features are chosen.
SMALL_SIDE = 16
#: The hand-crafted choice for small images.
SMALL_SPEC = "hog,color,lbp"
#: The choice for everything else.
PHOTO_SPEC = "photo"


def _size(item) -> tuple[int, int] | None:
    """``(width, height)`` of an image, from its header when it is a file; None if unreadable."""
    if isinstance(item, np.ndarray):
        return item.shape[1], item.shape[0]
    try:
        if isinstance(item, (str, os.PathLike)):
            with open(item, "rb") as f:
                header = read_header(f.read())
            if header is not None and header.width and header.height:
                return header.width, header.height
        image = as_image(item)
    except (OSError, ImageReadError):
        return None
    return image.shape[1], image.shape[0]


def choose_features(images, *, sample: int = 64, seed: int = 0) -> tuple[str, str]:
    """The feature spec for these images, and why, in one line.

    Looks at the sizes of up to ``sample`` images drawn with ``seed`` (headers
    only, for files).

    Examples
    --------
    >>> import numpy as np
    >>> choose_features([np.zeros((8, 8), np.uint8)] * 3)[0]
    'hog,color,lbp'
    >>> choose_features([np.zeros((480, 640, 3), np.uint8)])[1]
    'images of 640x480 px (median of 1): the photo recipe (MobileNet V2 layers, flip-averaged)'
    """
    n = len(images)
    if n == 0:
        raise ValueError("Cannot choose features for no images.")
    picks = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
    sizes = [s for s in (_size(images[int(i)]) for i in np.sort(picks)) if s is not None]
    if not sizes:
        return SMALL_SPEC, "no sampled image could be read: the hand-crafted set"
    width = int(np.median([w for w, _ in sizes]))
    height = int(np.median([h for _, h in sizes]))
    seen = f"images of {width}x{height} px (median of {len(sizes)})"
    if min(width, height) < SMALL_SIDE:
        return SMALL_SPEC, (f"{seen}: smaller than {SMALL_SIDE} px, hand-crafted features "
                            f"({SMALL_SPEC}); a CNN would see them upsampled "
                            f"{224 // min(width, height)}x")
    return PHOTO_SPEC, f"{seen}: the photo recipe (MobileNet V2 layers, flip-averaged)"


#: The layers of the photo recipe (MobileNet V2 block outputs and the embedding).
PHOTO_LAYERS = ("block12", "block13", "block16", "embedding")


def photo_spec() -> list:
    """The recipe for photos and thumbnails: MobileNet V2 layers, pyramid-pooled, flip-averaged.

    Blocks 12, 13 and 16 of the bundled MobileNet V2 averaged over a 1x1 + 2x2
    pyramid, plus its 1,280-value embedding, on the whole image (no crop),
    averaged with the mirror image: 4,160 values. Chosen on clothing10 (see the
    README's "Choosing features").
    """
    from l2vision.features.cnn import CNNEmbedding

    return [("cnn", CNNEmbedding("mobilenet_v2_1.0", output=list(PHOTO_LAYERS),
                                 pooling="pyramid", crop=1.0, flip_average=True))]
