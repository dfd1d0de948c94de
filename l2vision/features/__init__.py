"""Image feature extractors, each a scikit-learn transformer, and the driver.

Examples
--------
>>> import numpy as np
>>> from l2vision.features import HOG, LBP, ColorHistogram, ImageFeatures
>>> images = [np.zeros((32, 32, 3), np.uint8)]
>>> ImageFeatures([HOG(), ColorHistogram(), LBP()]).fit_transform(images).shape
(1, 1902)
"""

from l2vision.features.base import ImageExtractor
from l2vision.features.bovw import BagOfVisualWords
from l2vision.features.cnn import CNNEmbedding, ModelLoadError
from l2vision.features.color import ColorHistogram
from l2vision.features.driver import ImageFeatures
from l2vision.features.hog import HOG
from l2vision.features.kmeans import KMeansFeatures
from l2vision.features.learned import LearnedExtractor
from l2vision.features.texture import LBP
from l2vision.features.tiny import TinyImage

__all__ = [
    "HOG",
    "LBP",
    "BagOfVisualWords",
    "CNNEmbedding",
    "ColorHistogram",
    "ImageExtractor",
    "ImageFeatures",
    "KMeansFeatures",
    "LearnedExtractor",
    "ModelLoadError",
    "TinyImage",
]
