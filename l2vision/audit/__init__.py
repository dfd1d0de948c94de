"""Data-set audit: the algorithms behind ``l2vision audit``.

Pure NumPy / SciPy / scikit-learn / OpenCV functions that import nothing else
from l2vision; the command supplies decoded images, feature matrices and
out-of-fold probabilities.

- :mod:`~l2vision.audit.labels`: likely label errors by confident learning,
  from out-of-fold predicted probabilities.
- :mod:`~l2vision.audit.duplicates`: exact duplicates (pixel hashes), near
  duplicates within a set and leaks between sets (whitened-PCA cosine of the
  features, blocked nearest-neighbour search, optional perceptual hash).
- :mod:`~l2vision.audit.quality`: blurry, dark, light, low-information,
  odd-sized and grayscale images, with thresholds relative to the set.
"""

from l2vision.audit.duplicates import (
    DEFAULT_THRESHOLD,
    DuplicatePairs,
    exact_duplicates,
    hamming_distance,
    near_duplicates,
    nearest_neighbors,
    perceptual_hash,
    pixel_hash,
)
from l2vision.audit.labels import LabelIssues, class_thresholds, confident_joint, find_label_issues
from l2vision.audit.quality import ISSUES, STATS, QualityIssues, flag_quality, image_stats

__all__ = [
    "DEFAULT_THRESHOLD",
    "ISSUES",
    "STATS",
    "DuplicatePairs",
    "LabelIssues",
    "QualityIssues",
    "class_thresholds",
    "confident_joint",
    "exact_duplicates",
    "find_label_issues",
    "flag_quality",
    "hamming_distance",
    "image_stats",
    "near_duplicates",
    "nearest_neighbors",
    "perceptual_hash",
    "pixel_hash",
]
