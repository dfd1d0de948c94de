"""Build the standard pipeline: features → [L2 normalize] → standardize → L2 linear model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from l2vision._validation import check_option, check_real
from l2vision.features import ImageExtractor, ImageFeatures
from l2vision.features.registry import parse_features
from l2vision.linear.logistic import LogisticRegressionKFoldCV
from l2vision.linear.ridge import RidgeClassifierKFoldCV

__all__ = ["ESTIMATORS", "class_scores", "final_estimator", "head_input", "make_features",
           "make_pipeline", "make_search", "ood_scores", "split_pipeline"]

#: The linear models, by the name ``make_pipeline``, ``train`` and the CLI's ``--model`` take.
ESTIMATORS = ("logreg", "ridge")


def make_features(spec: str | Sequence | ImageExtractor | ImageFeatures, *,
                  size=None) -> ImageFeatures:
    """An :class:`ImageFeatures` from feature specs, extractors, or as given.

    Parameters
    ----------
    spec : str, list, ImageExtractor or ImageFeatures
        ``"auto"`` (the extractors are chosen from the training images in
        ``fit``, see :mod:`l2vision.features.auto`); comma-separated specs of
        the registry (``"hog,color,lbp"``,
        ``cnn:NETWORK``, ``cnn:NETWORK:LAYER+LAYER``...; see
        :mod:`l2vision.features.registry`, or ``l2vision features list``); a
        single extractor; a list mixing specs, extractors and ``(name,
        extractor)`` pairs; or a ready ImageFeatures, returned as is (``size``
        is then not applied).
    size : (int, int) or None, default=None
        Passed to :class:`ImageFeatures`: the working size after decoding.

    Raises
    ------
    ValueError
        An unknown feature name (the message lists the known ones).

    Examples
    --------
    >>> make_features("hog,lbp").get_params()["hog__orientations"]
    9
    >>> make_features("cnn:mobilenet_v1_0.25:conv13+conv11").get_params()["cnn__output"]
    ['conv13', 'conv11']
    """
    if isinstance(spec, ImageFeatures):
        return spec
    if isinstance(spec, ImageExtractor):
        spec = [spec]
    if isinstance(spec, str) and spec.strip() == "auto":
        return ImageFeatures("auto", size=size)
    return ImageFeatures(parse_features(spec), size=size)


def make_pipeline(features="auto", model: str = "logreg", *, lam: float | None = None,
                  lambdas=None, cv=5, normalize: str | None = None, random_state=0,
                  size=None, lambda_rule="best", ood=None, class_weight=None,
                  cv_metric="accuracy") -> Pipeline:
    """The l2vision pipeline as a plain scikit-learn ``Pipeline``.

    Steps: ``features`` (:class:`ImageFeatures`) → ``normalize``
    (``Normalizer("l2")``, optional) → ``scale`` (``StandardScaler``) → ``clf``.
    With a fixed ``lam`` the classifier is ``LogisticRegression(C=1/lam)`` or
    ``RidgeClassifier(alpha=lam)``; with ``lam=None`` it is
    :class:`LogisticRegressionKFoldCV` or :class:`RidgeClassifierKFoldCV`,
    which choose λ by cross-validation and standardize inside each fold (so
    there is no separate ``scale`` step, which would leak the test folds'
    statistics into training).

    Parameters
    ----------
    features : str, extractor, list of extractors, or ImageFeatures, default="auto"
        See :func:`make_features`.
    model : {"logreg", "ridge"}, default="logreg"
        L2 (multinomial) logistic regression or ridge classification.
    lam : float or None, default=None
        Fixed regularization strength λ > 0, or None to choose it by CV.
    lambdas : int, array-like or None, default=None
        The CV grid (None: 20 values for logreg, 40 for ridge).
    cv : int or splitter, default=5
        CV folds when ``lam`` is None.
    normalize : {None, "l2"}, default=None
        L2-normalize each feature vector before standardizing.
    random_state : int, default=0
        Seed of the CV folds.
    size : (int, int) or None, default=None
        Passed to :func:`make_features`: the working size after decoding.
    lambda_rule : {"best", "1se"}, default="best"
        How the search picks λ (see :class:`LogisticRegressionKFoldCV`).
    ood : {None, "mahalanobis", "knn"}, default=None
        With ``lam=None``: the search also fits a detector of images of no
        class (:class:`~l2vision.trust.OODDetector`), for ``score``'s ``ood``
        column and ``unknown``.
    class_weight : {None, "balanced"} or dict, default=None
        Class weights of the model (both models; see the searches).
    cv_metric : {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}, default="accuracy"
        What the λ search maximizes (``log_loss``: logreg only).

    Returns
    -------
    sklearn.pipeline.Pipeline

    Notes
    -----
    One λ axis for both models: each minimizes ``Σᵢ ℓᵢ + (λ/2) ||w||²``
    over standardized features, with ``ℓ`` the multinomial log-loss (logreg)
    or ``½ ||yᵢ - f(xᵢ)||²`` with ±1 targets (ridge). In scikit-learn terms,
    ``C = 1 / λ`` (C multiplies the data term) and ``alpha = λ``. The logistic
    model is L2-regularized through its default penalty (``penalty`` is
    deprecated since scikit-learn 1.8 and is not passed).

    Workers, progress bars, the feature cache and the scheduler are settings
    of :func:`l2vision.config_context`, not parameters: the pipeline (and the
    saved model) holds only what determines its output.

    Examples
    --------
    >>> pipe = make_pipeline("hog,color", "ridge", lam=10.0)
    >>> [name for name, _ in pipe.steps], pipe.named_steps["clf"].alpha
    (['features', 'scale', 'clf'], 10.0)
    """
    check_option("make_pipeline", "model", model, ESTIMATORS)
    check_option("make_pipeline", "normalize", normalize, (None, "l2"))
    check_real("make_pipeline", "lam", lam, low=0, low_open=True, optional=True)
    steps = [("features", make_features(features, size=size))]
    if normalize == "l2":
        steps.append(("normalize", Normalizer("l2")))
    if lam is None:
        steps.append(("clf", make_search(model, lambdas, cv=cv, random_state=random_state,
                                         lambda_rule=lambda_rule, ood=ood,
                                         class_weight=class_weight, cv_metric=cv_metric)))
    else:
        steps.append(("scale", StandardScaler()))
        steps.append(("clf", LogisticRegression(C=1.0 / lam, max_iter=1000,
                                                class_weight=class_weight)
                      if model == "logreg" else RidgeClassifier(alpha=lam,
                                                                class_weight=class_weight)))
    return Pipeline(steps)


def make_search(model: str, lambdas=None, *, cv=5, random_state=0, lambda_rule="best",
                ood=None, class_weight=None, cv_metric="accuracy"):
    """The λ-search estimator for ``model``: the last step of a CV pipeline.

    Parameters
    ----------
    model : {"logreg", "ridge"}
    lambdas : int, array-like or None, default=None
        The grid; None gives 20 values for logreg and 40 for ridge (a ridge
        path costs the same whatever the number of λ).
    cv, random_state, lambda_rule, ood, class_weight, cv_metric :
        Passed to the estimator.

    Returns
    -------
    LogisticRegressionKFoldCV or RidgeClassifierKFoldCV

    Examples
    --------
    >>> make_search("ridge").lambdas, make_search("logreg", 5).lambdas
    (40, 5)
    """
    if model == "logreg":
        return LogisticRegressionKFoldCV(20 if lambdas is None else lambdas, cv=cv,
                                         random_state=random_state, lambda_rule=lambda_rule,
                                         ood=ood, class_weight=class_weight,
                                         cv_metric=cv_metric)
    return RidgeClassifierKFoldCV(40 if lambdas is None else lambdas, cv=cv,
                                  random_state=random_state, lambda_rule=lambda_rule, ood=ood,
                                  class_weight=class_weight, cv_metric=cv_metric)


def split_pipeline(model: Pipeline):
    """``(features, head)``: the ImageFeatures step of a fitted pipeline and the steps after it.

    Lets callers extract with :meth:`ImageFeatures.transform_with_errors`
    (carry on past bad images) and predict the readable rows with ``head``.

    Raises
    ------
    ValueError
        ``model`` is not a pipeline starting with ImageFeatures.
    """
    if not isinstance(model, Pipeline) or not isinstance(model.steps[0][1], ImageFeatures):
        raise ValueError("Expected an l2vision pipeline whose first step is ImageFeatures "
                         f"(a model from l2vision train); got {type(model).__name__}.")
    head = model[1:] if len(model.steps) > 2 else model.steps[-1][1]
    return model.steps[0][1], head


def final_estimator(head):
    """The classifier at the end of a pipeline's head (the head itself if it is one)."""
    return head.steps[-1][1] if isinstance(head, Pipeline) else head


def head_input(head, X: np.ndarray) -> np.ndarray:
    """``X`` as the final estimator sees it (after the head's ``normalize`` step, if any)."""
    return head[:-1].transform(X) if isinstance(head, Pipeline) else X


def class_scores(head, X: np.ndarray, *, raw: bool = False) -> np.ndarray:
    """Scores ``(n, n_classes)`` of a fitted model's final steps.

    Probabilities (calibrated, for l2vision's searches) when the model has
    ``predict_proba`` and not ``raw``; otherwise decision values, with a
    two-class decision ``d`` spread to ``[-d, d]`` so that the predicted class
    has the larger score.

    Examples
    --------
    >>> from sklearn.linear_model import RidgeClassifier
    >>> head = RidgeClassifier().fit([[0.0], [1.0]], ["a", "b"])
    >>> class_scores(head, np.array([[1.0]])).argmax(axis=1)
    array([1])
    """
    if hasattr(head, "predict_proba") and not raw:
        return head.predict_proba(X)
    decision = head.decision_function(X)
    if decision.ndim == 1:
        decision = np.column_stack([-decision, decision])
    return decision


def ood_scores(head, X: np.ndarray) -> np.ndarray | None:
    """How unusual each row is (the search's ``ood_score``), or None for a model without it."""
    clf = final_estimator(head)
    if not hasattr(clf, "ood_score"):
        return None
    return clf.ood_score(head_input(head, X))
