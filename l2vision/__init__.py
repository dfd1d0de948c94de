"""l2vision: classical image classification with L2-regularized linear models.

Features (HOG, color histograms, LBP texture, tiny images, frozen-CNN
embeddings) are standardized and fed to scikit-learn's ridge classifier or L2
logistic regression, with the regularization strength chosen by
cross-validation.
"""

import os as _os

# OpenCV's own decompression-bomb limit (2**30 pixels by default) for the formats
# whose header l2vision does not parse; read by OpenCV when it loads, so this
# only takes effect when l2vision is imported before cv2.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "100000000")

from l2vision._version import __version__  # noqa: E402
from l2vision.datasets import (
    ImageSet,
    load_csv,
    load_dataset,
    load_digits_images,
    load_image_folder,
)
from l2vision.features import HOG, LBP, CNNEmbedding, ColorHistogram, ImageFeatures, TinyImage
from l2vision.images import ImageNotFoundError, ImageReadError, read_image
from l2vision.pipelines import make_pipeline
from l2vision.pipelines.persist import load, save
from l2vision.pipelines.robustness import robustness
from l2vision.pipelines.study import study
from l2vision.pipelines.train import train
from l2vision.scoring import predict_paths, score_files

__all__ = [
    "HOG",
    "LBP",
    "CNNEmbedding",
    "ColorHistogram",
    "ImageFeatures",
    "ImageNotFoundError",
    "ImageReadError",
    "ImageSet",
    "TinyImage",
    "__version__",
    "load_csv",
    "load_dataset",
    "load_digits_images",
    "load",
    "load_image_folder",
    "make_pipeline",
    "predict_paths",
    "read_image",
    "robustness",
    "save",
    "score_files",
    "study",
    "train",
]
