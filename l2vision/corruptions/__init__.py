"""Common image corruptions: ImageNet-C-style effects, their specs, training augmentation.

- :mod:`~l2vision.corruptions.catalog`: the corruptions themselves, pure
  functions of an image, a severity and a random generator;
- :mod:`~l2vision.corruptions.specs`: names, severities and augmentations as
  users write them (``"noise,flip"``, ``"1-3"``, ``"crop:2"``), checked;
- :mod:`~l2vision.corruptions.augment`: corrupted copies of training images
  as extra rows for the model (``train --augment``).
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "CORRUPTIONS": ".catalog",
    "FAMILIES": ".catalog",
    "SEVERITIES": ".catalog",
    "corrupt": ".catalog",
    "corruption_rng": ".catalog",
    "parse_augmentations": ".specs",
    "parse_corruptions": ".specs",
    "parse_severities": ".specs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
