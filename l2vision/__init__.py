"""l2vision: classical image classification with L2-regularized linear models.

Features (HOG, color histograms, LBP texture, tiny images, learned k-means
features, frozen-CNN embeddings) are standardized and fed to scikit-learn's
ridge classifier or L2 logistic regression, with the regularization strength
chosen by cross-validation.

The public names below are imported on first use (PEP 562), so ``import
l2vision`` is fast and loads neither scikit-learn nor OpenCV until needed.
Subpackages: :mod:`l2vision.io` (reading images), :mod:`l2vision.features`,
:mod:`l2vision.linear` (the λ searches), :mod:`l2vision.pipelines` (build,
save, load), :mod:`l2vision.workflows` (train, evaluate, robustness, study),
:mod:`l2vision.scoring`, :mod:`l2vision.trust` (calibration, prediction sets,
images of no class), :mod:`l2vision.audit` (label errors, duplicates, image
quality), :mod:`l2vision.explain` (heatmaps), :mod:`l2vision.corruptions`,
:mod:`l2vision.report`, :mod:`l2vision.cli`; how work runs is :mod:`l2vision.config`.
"""

from l2vision._lazy import lazy_exports
from l2vision._version import __version__

_EXPORTS = {
    "config_context": "l2vision.config",
    "get_config": "l2vision.config",
    "set_config": "l2vision.config",
    "ParameterError": "l2vision._validation",
    "ImageSet": "l2vision.datasets",
    "load_csv": "l2vision.datasets",
    "load_dataset": "l2vision.datasets",
    "load_digits_images": "l2vision.datasets",
    "load_image_folder": "l2vision.datasets",
    "HOG": "l2vision.features.hog",
    "LBP": "l2vision.features.texture",
    "CNNEmbedding": "l2vision.features.cnn",
    "ColorHistogram": "l2vision.features.color",
    "ImageFeatures": "l2vision.features.driver",
    "TinyImage": "l2vision.features.tiny",
    "ImageNotFoundError": "l2vision.io.errors",
    "ImageReadError": "l2vision.io.errors",
    "read_image": "l2vision.io.decode",
    "LogisticRegressionKFoldCV": "l2vision.linear.logistic",
    "RidgeClassifierKFoldCV": "l2vision.linear.ridge",
    "make_features": "l2vision.pipelines.build",
    "make_pipeline": "l2vision.pipelines.build",
    "load": "l2vision.pipelines.persist",
    "save": "l2vision.pipelines.persist",
    "explain_images": "l2vision.explain.explain",
    "write_explanations": "l2vision.explain.output",
    "evaluate_images": "l2vision.workflows.evaluate",
    "robustness": "l2vision.workflows.robustness",
    "study": "l2vision.workflows.study",
    "train": "l2vision.workflows.train",
    "predict_paths": "l2vision.scoring.predict",
    "score_files": "l2vision.scoring.run",
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
