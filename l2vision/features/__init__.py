"""Image feature extractors, each a scikit-learn transformer, and the driver that runs them.

- the contract: :mod:`~l2vision.features.base` (:class:`ImageExtractor`) and
  :mod:`~l2vision.features.learned` (:class:`LearnedExtractor`);
- one module per family: :mod:`~l2vision.features.hog`,
  :mod:`~l2vision.features.color`, :mod:`~l2vision.features.texture`,
  :mod:`~l2vision.features.tiny`, :mod:`~l2vision.features.kmeans`,
  :mod:`~l2vision.features.bovw`, :mod:`~l2vision.features.cnn` (with the
  network engines of :mod:`~l2vision.features._net` and the registry of
  networks, :mod:`~l2vision.features.zoo`);
- :mod:`~l2vision.features.registry`: spec names (``hog:64``) to extractors,
  built-ins and plugins; :mod:`~l2vision.features.auto`: the ``auto`` choice;
- the batch engine: :mod:`~l2vision.features.driver` (:class:`ImageFeatures`),
  with its batches, crash isolation and cache in private modules;
- where features come from in the image: each extractor's ``_locate``, with
  the tools of :mod:`~l2vision.features.location`, run over images by
  :mod:`~l2vision.features.locate` (occlusion for extractors without it).

Names are imported lazily (the extractors load OpenCV and scikit-learn).

Examples
--------
>>> import numpy as np
>>> from l2vision.features import HOG, LBP, ColorHistogram, ImageFeatures
>>> images = [np.zeros((32, 32, 3), np.uint8)]
>>> ImageFeatures([HOG(), ColorHistogram(), LBP()]).fit_transform(images).shape
(1, 1902)
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "BagOfVisualWords": ".bovw",
    "CNNEmbedding": ".cnn",
    "ColorHistogram": ".color",
    "HOG": ".hog",
    "ImageExtractor": ".base",
    "ImageFeatures": ".driver",
    "with_extractors": ".combine",
    "KMeansFeatures": ".kmeans",
    "LBP": ".texture",
    "LearnedExtractor": ".learned",
    "ModelLoadError": ".cnn",
    "TinyImage": ".tiny",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
