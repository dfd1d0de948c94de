"""One training run: load, split, extract once, search λ, refit, evaluate held out."""

from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from l2vision._validation import HintedError, check_int, check_option, check_real
from l2vision.config import config_context
from l2vision.corruptions.augment import augmented_rows
from l2vision.corruptions.specs import parse_augmentations
from l2vision.datasets import DatasetError, ImageSet, load_dataset
from l2vision.distributed import get_client
from l2vision.features.auto import PHOTO_SPEC, choose_features
from l2vision.pipelines.build import ESTIMATORS, class_scores, make_pipeline
from l2vision.trust import calibration_metrics, decision_to_logits
from l2vision.workflows.auto_select import select_photo_features
from l2vision.workflows.evaluate import classification_metrics
from l2vision.workflows.report_explanations import report_reasons
from l2vision.workflows.trust_metrics import trust_metrics

__all__ = ["IMBALANCE_RATIO", "ImbalanceWarning", "TooFewImagesError", "TrainResult",
           "WideFeaturesWarning", "check_trainable", "fingerprint", "split_images", "train",
           "warn_imbalance", "warn_wide"]


class TooFewImagesError(HintedError, DatasetError):
    """A class has too few images for the folds (and the held-out split) asked for."""


class ImbalanceWarning(HintedError, UserWarning):
    """The largest class has more than :data:`IMBALANCE_RATIO` times the images of the smallest."""


#: Class counts further apart than this ratio get an :class:`ImbalanceWarning`.
IMBALANCE_RATIO = 3.0


class WideFeaturesWarning(HintedError, UserWarning):
    """The logistic model on a large and wide feature matrix: its λ search is slow."""


#: From this many features and :data:`MANY_IMAGES` training rows, the logistic model
#: gets a :class:`WideFeaturesWarning`. Its λ search fits lbfgs at every λ of every
#: fold, each fit's cost growing with rows x width (on CIFAR-10's 10,000-image kmeans
#: features, 6,400 wide, lbfgs ran past its iteration limit); the ridge path is exact
#: from one decomposition per fold. The photo recipe (4,160 features) on a few
#: thousand photos stays below: the default is not warned about.
WIDE_FEATURES = 4096
MANY_IMAGES = 5000


def warn_wide(model: str, n_features: int, n_rows: int) -> None:
    """Say why the ridge model suits wide features better, when the logistic one was asked."""
    if model == "logreg" and n_features >= WIDE_FEATURES and n_rows >= MANY_IMAGES:
        warnings.warn(WideFeaturesWarning(
            f"{n_rows:,} images x {n_features:,} features: the logistic model's λ search fits "
            "every λ of every fold iteratively and is slow at this size; {model} searches the "
            "whole λ path "
            "exactly from one decomposition per fold", model="ridge"), stacklevel=3)


def warn_imbalance(images: ImageSet, class_weight) -> None:
    """Warn when the classes are imbalanced and no class weights are asked for."""
    counts = Counter(map(str, images.labels))
    (big, n_big), (small, n_small) = max(counts.items(), key=lambda kv: kv[1]), \
        min(counts.items(), key=lambda kv: kv[1])
    if class_weight is None and n_big > IMBALANCE_RATIO * n_small:
        warnings.warn(ImbalanceWarning(
            f"{images.source}: class {big!r} has {n_big} training images, {n_big / n_small:.0f}x "
            f"the {n_small} of {small!r}; the model will favor the large classes. Weigh them "
            "with {class_weight} (and choose lambda by {cv_metric})",
            class_weight="balanced", cv_metric="balanced_accuracy"), stacklevel=3)


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes
    ----------
    model : sklearn.pipeline.Pipeline
        ``features`` → [``normalize``] → ``clf`` (a fitted k-fold search estimator).
    metadata : dict
        What :func:`~l2vision.pipelines.persist.save` stores beside the model.
    test_metrics : dict or None
        Held-out metrics (None with ``test_size=0``).
    search : dict
        ``cv_results``, the chosen ``lambda``, ``best_score`` and ``model``.
    timings : dict
        Seconds spent extracting, searching and evaluating.
    predictions : list of dict
        The held-out images: ``image``, ``true``, ``predicted``, ``score``.
    figures : dict
        Arrays for the report: ``reliability`` (the calibrated probabilities'
        reliability diagram) and ``ood_scores``, on the held-out images (the
        out-of-fold rows with ``test_size=0``).
    """

    model: Pipeline
    metadata: dict
    test_metrics: dict | None
    search: dict
    timings: dict = field(default_factory=dict)
    predictions: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def fingerprint(images: ImageSet) -> str:
    """sha256 of the training set's identity: each image's path (or pixels) and label."""
    h = hashlib.sha256()
    for item, label in zip(images.images, images.labels, strict=True):
        h.update(item.tobytes() if isinstance(item, np.ndarray) else str(item).encode())
        h.update(b"\0" + str(label).encode() + b"\n")
    return h.hexdigest()


def _measured_auto(features, size, images: ImageSet) -> bool:
    """Whether ``auto`` measures the photo candidates: photos, at their own size."""
    if not (isinstance(features, str) and features == "auto") or size is not None:
        return False
    return choose_features(images.images)[0] == PHOTO_SPEC


def _selection_reason(selection) -> str:
    """One line: the winner and every candidate's CV accuracy."""
    scores = ", ".join(f"{c['name']} {c['cv_accuracy']:.2%}" for c in selection.candidates)
    return f"photos: best of {len(selection.candidates)} candidates by CV ({scores})"


def check_trainable(images: ImageSet, *, cv: int, test_size: float) -> None:
    """Raise DatasetError unless the labels allow a stratified split and ``cv`` folds."""
    if images.labels is None:
        raise DatasetError(f"{images.source}: no labels; training needs a label per image")
    counts = Counter(images.labels)
    if len(counts) < 2:
        only = next(iter(counts), "nothing")
        raise DatasetError(f"{images.source}: only one class ({only!r}); a classifier needs "
                           "images of at least two classes")
    need = cv + (1 if test_size else 0)
    small = sorted((n, c) for c, n in counts.items() if n < need)
    if small:
        n, c = small[0]
        raise TooFewImagesError(
            f"{images.source}: class {c!r} has {n} image(s); {cv}-fold cross-validation"
            f"{' plus a held-out split' if test_size else ''} needs at least {need} per class "
            "(add images, or lower {cv} or {test_size})", cv=None, test_size=None)


def split_images(images: ImageSet, test_size: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """The stratified ``(training, held-out)`` split of :func:`train` (held-out empty at 0)."""
    indices = np.arange(images.n_images)
    if not test_size:
        return images, images.subset(indices[:0])
    train_idx, test_idx = train_test_split(indices, test_size=test_size, stratify=images.labels,
                                           random_state=seed)
    return images.subset(np.sort(train_idx)), images.subset(np.sort(test_idx))


def train(data=None, *, features="auto", model: str = "logreg", cv: int = 5,
          lambdas=None, size=None, test_size: float = 0.2, normalize: str | None = None,
          seed: int = 0, refit: bool = True, lambda_rule: str = "best",
          augment=None, ood: str | None = "mahalanobis", class_weight=None,
          cv_metric: str = "accuracy") -> TrainResult:
    """Train an image classifier with λ chosen by cross-validation.

    Features are extracted once for the training split (and cached with the
    ``cache_dir`` setting); λ is searched on that matrix; the chosen λ is fit on the
    whole training split, and the held-out split gives the reported accuracy.
    Extractors that learn (``kmeans``, ``bovw``) are fitted on the training
    split only, never on held-out images; the λ search's folds then share that
    unsupervised dictionary (the practice of Coates et al.: no labels are
    used to learn it, so this is not label leakage, though the CV accuracy can
    be a little optimistic next to a dictionary learned per fold).
    Then (``refit=True``) the model is fit again at that λ on the training and
    held-out images together, so the saved model learns from every labelled
    image: the reported held-out accuracy is that of the model fit on the
    training split, a slightly pessimistic estimate for the saved one.

    Parameters
    ----------
    data : ImageSet, str, os.PathLike or None, default=None
        An ImageSet, an image folder, a CSV manifest, or None for the built-in digits.
    features : str, list or ImageFeatures, default="auto"
        See :func:`~l2vision.pipelines.build.make_features`.
    model : {"logreg", "ridge"}, default="logreg"
    cv : int, default=5
        Cross-validation folds for λ.
    lambdas : int, array-like or None, default=None
        The λ grid (None: 20 for logreg, 40 for ridge, scaled to the data size).
    size : (int, int) or None, default=None
        Working size every image is resized to after decoding.
    test_size : float, default=0.2
        Fraction held out (stratified) for the reported accuracy; 0 for none.
    normalize : {None, "l2"}, default=None
        L2-normalize feature vectors before the model.
    seed : int, default=0
        Seed of the split and of the folds.
    refit : bool, default=True
        After the held-out evaluation, fit the model again at the chosen λ on
        all images (no effect with ``test_size=0``).
    lambda_rule : {"best", "1se"}, default="best"
        The best mean CV accuracy, or the largest λ within one standard error of it.
    augment : str, list or None, default=None
        Training augmentation: corruptions of :mod:`l2vision.corruptions`
        (``"flip,crop"``, ``"crop:2"``; severity 1 by default). Each adds one
        corrupted copy of every training image (a seeded, per-image draw) to
        the rows the model learns from. The λ search keeps all copies of an
        image in the same fold (``StratifiedGroupKFold``), so no image is
        scored by a model that saw a copy of it; held-out images are never
        augmented.
    ood : {"mahalanobis", "knn", None}, default="mahalanobis"
        The detector of images of no class fitted with the model (``score``'s
        ``ood`` column and ``--reject``); None for none.
    class_weight : {None, "balanced"} or dict, default=None
        Weigh the classes in the model's loss ("balanced": inversely to their
        image counts). Without it, a training set whose largest class has more
        than 3x the images of the smallest gets an :class:`ImbalanceWarning`.
    cv_metric : {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}, default="accuracy"
        What the λ search maximizes (``log_loss``: logreg only).

    Returns
    -------
    TrainResult

    Notes
    -----
    Workers, the feature cache, progress bars and a Dask cluster are settings
    of :func:`l2vision.config_context` (same features, same λ wherever it
    runs); none of them is saved with the model.

    Raises
    ------
    DatasetError
        Missing data, one class only, or too few images per class.
    ImageReadError
        An image cannot be read (training never drops samples silently).

    Examples
    --------
    >>> result = train(features="hog", model="ridge", lambdas=[10, 300, 3000, 30000])  # digits
    >>> result.test_metrics["accuracy"] > 0.95, result.search["lambda"]
    (True, 300.0)
    """
    check_option("train", "model", model, ESTIMATORS)
    check_int("train", "cv", cv, low=2)
    check_int("train", "seed", seed, low=0)
    check_real("train", "test_size", test_size, low=0, high=1, high_open=True)
    augmentations = parse_augmentations(augment)
    images = data if isinstance(data, ImageSet) else load_dataset(data)
    check_trainable(images, cv=cv, test_size=test_size)
    train_set, test_set = split_images(images, test_size, seed)

    client = get_client()
    warn_imbalance(train_set, class_weight)
    pipeline = make_pipeline(features, model, lambdas=lambdas, cv=cv, normalize=normalize,
                             random_state=seed, size=size, lambda_rule=lambda_rule, ood=ood,
                             class_weight=class_weight, cv_metric=cv_metric)
    extractor, search = pipeline.named_steps["features"], pipeline.steps[-1][1]
    timings = {}
    start = time.perf_counter()
    selection = None
    with config_context(scheduler=client):  # one client for the whole run
        if _measured_auto(features, size, train_set):
            # Photos: the candidates are extracted at once and compared by CV.
            selection = select_photo_features(train_set.images, train_set.labels, cv=cv,
                                              seed=seed)
            extractor, X = selection.extractor, selection.X
            pipeline.steps[0] = ("features", extractor)
        else:
            X = extractor.fit_transform(train_set.images)
        y, groups = np.asarray(train_set.labels), None
        if augmentations:
            X, y, groups = augmented_rows(extractor, train_set.images, X, train_set.labels,
                                          augmentations, seed=seed)
    timings["extract_train"] = time.perf_counter() - start
    warn_wide(model, X.shape[1], X.shape[0])
    if normalize == "l2":
        X = pipeline.named_steps["normalize"].fit_transform(X)
    start = time.perf_counter()
    with client.as_current() if client is not None else contextlib.nullcontext():
        search.fit(X, y, groups=groups)  # the folds become tasks on the cluster
    timings["search"] = time.perf_counter() - start

    # Probabilities are calibrated on the out-of-fold decision values (kept
    # only for this report: the saved model does not carry them).
    oof = search.__dict__.pop("oof_decision_")
    y_index = np.searchsorted(search.classes_, y)
    calibration = {"temperature": search.temperature_,
                   "out_of_fold": {
                       "before": calibration_metrics(softmax(decision_to_logits(oof), axis=1),
                                                     y_index),
                       "after": calibration_metrics(
                           softmax(decision_to_logits(oof) / search.temperature_, axis=1),
                           y_index)}}
    figures = {}
    test_metrics, predictions = None, []
    if test_set.n_images:
        start = time.perf_counter()
        with config_context(scheduler=client):
            X_test = extractor.transform(test_set.images)
        if normalize == "l2":
            X_test = pipeline.named_steps["normalize"].transform(X_test)
        timings["evaluate"] = time.perf_counter() - start
        scores = class_scores(search, X_test)
        predicted = search.classes_[scores.argmax(axis=1)]
        test_metrics = classification_metrics(test_set.labels, predicted, images.classes)
        trust, figures = trust_metrics(search, X_test, test_set.labels,
                                       [str(c) for c in search.classes_])
        test_metrics.update(trust)
        predictions = [{"image": image, "true": str(t), "predicted": str(p), "score": float(v)}
                       for image, t, p, v in zip(test_set.images, test_set.labels, predicted,
                                                 scores.max(axis=1), strict=True)]
        # The report's heatmaps and bars: the model that made these predictions, before
        # the refit below learns from the held-out images too.
        start = time.perf_counter()
        figures.update(report_reasons(pipeline, X_test, predicted, predictions))
        timings["explain_report"] = time.perf_counter() - start
        if refit:
            # The held-out rows measured the model; the one to ship learns from them too.
            start = time.perf_counter()
            search.refit_on(np.vstack([X, X_test]), np.concatenate([y, test_set.labels]))
            timings["refit"] = time.perf_counter() - start

    search_info = {"model": model, "lambda": search.lambda_, "best_score": search.best_score_,
                   "grid_extended": bool(search.grid_extended_),
                   "lambda_rule": lambda_rule, "lambda_best": search.lambda_best_,
                   "lambda_1se": search.lambda_1se_,
                   "cv_results": {k: np.asarray(v).tolist() for k, v in search.cv_results_.items()}}
    metadata = {
        "classes": list(map(str, search.classes_)),
        "features": repr(extractor),
        "features_spec": selection.chosen if selection else
        getattr(extractor, "features_spec_", None)
        or (features if isinstance(features, str) else repr(features)),
        "features_choice": _selection_reason(selection) if selection
        else getattr(extractor, "features_reason_", None),
        "features_candidates": selection.candidates if selection else None,
        "feature_names_out": len(extractor.get_feature_names_out()),
        "learned_on_images": int(getattr(extractor, "n_fit_images_", 0)),
        "model": model, "lambda": search.lambda_, "cv_accuracy": search.best_score_,
        "cv": cv, "cv_results": search_info["cv_results"], "normalize": normalize,
        "lambda_rule": lambda_rule, "lambda_1se": search.lambda_1se_,
        "data": images.source, "n_train": int(train_set.n_images),
        "n_test": int(test_set.n_images), "train_fingerprint": fingerprint(train_set),
        "refit_on_all": bool(refit and test_set.n_images),
        "seed": seed, "test_accuracy": test_metrics and test_metrics["accuracy"],
        "augment": [f"{name}:{severity}" for name, severity in augmentations],
        "n_train_rows": int(len(y)),
        "calibration": calibration, "class_weight": class_weight, "cv_metric": cv_metric,
        "ood": {"method": ood, "threshold": float(search.ood_.threshold_)} if ood else None,
    }
    return TrainResult(pipeline, metadata, test_metrics, search_info, timings, predictions,
                       figures)
