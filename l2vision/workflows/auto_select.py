"""``auto`` for photos: measure the candidate feature sets by cross-validation, keep the best.

The rule of :func:`~l2vision.features.auto.choose_features` (image size)
decides between hand-crafted features (thumbnails) and the CNN recipes
(photos). For photos, which recipe is best depends on the data: the plain
MobileNet V2 embedding, the photo recipe (its blocks 12, 13, 16 and the
embedding), the same with MobileNet V1 0.25's layers, each with or without
color histograms. :func:`select_photo_features` extracts all of them in one
pass (each network runs once per image, keeping every layer a candidate
needs), scores each candidate's columns with the exact ridge λ path on the
same folds, shuffled 3 times (cheap: one kernel or Gram eigendecomposition
per fold), and returns the winner's extractor, whose features are exactly
the winner's columns (the losers' are dropped: the saved model extracts only
what it uses).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from l2vision._validation import invalid
from l2vision.config import config_context
from l2vision.features.auto import PHOTO_LAYERS
from l2vision.features.cnn import CNNEmbedding
from l2vision.features.color import ColorHistogram
from l2vision.features.driver import ImageFeatures
from l2vision.linear import RidgeClassifierKFoldCV

__all__ = ["CANDIDATES", "REPEATS", "V1_LAYERS", "Selection", "best_candidate",
           "candidate_extractor", "score_candidates", "select_photo_features"]

#: The MobileNet V1 0.25 layers of the "+v1" candidates (pyramid-pooled, flip-averaged).
V1_LAYERS = ("conv9", "conv11", "conv13")

_PHOTO = tuple(f"v2:{layer}" for layer in PHOTO_LAYERS)
_V1 = tuple(f"v1:{layer}" for layer in V1_LAYERS)

#: Candidate name -> the column groups it uses, simplest first (ties go to the earlier).
CANDIDATES = {
    "embedding": ("v2:embedding",),
    "photo": _PHOTO,
    "embedding+color": ("v2:embedding", "color"),
    "photo+color": (*_PHOTO, "color"),
    "photo+v1": (*_PHOTO, *_V1),
    "photo+v1+color": (*_PHOTO, *_V1, "color"),
}


@dataclass
class Selection:
    """What :func:`select_photo_features` measured and kept.

    Attributes
    ----------
    chosen : str
        The winning candidate's name.
    extractor : ImageFeatures
        Fitted; extracts the winner's features only.
    X : ndarray
        The training images' features for ``extractor`` (already extracted).
    candidates : list of dict
        ``name``, ``n_features``, ``cv_accuracy`` (mean over the folds) and
        ``cv_std`` of every candidate, in :data:`CANDIDATES` order.
    """

    chosen: str
    extractor: ImageFeatures
    X: np.ndarray
    candidates: list = field(default_factory=list)


#: Shufflings of the folds the candidates' CV accuracies are averaged over.
REPEATS = 3


def _network(model: str, layers) -> CNNEmbedding:
    return CNNEmbedding(model, output=list(layers), pooling="pyramid", crop=1.0,
                        flip_average=True)


def _extractors(groups) -> list:
    """The extractors of a set of column groups, in the superset's order."""
    v2 = [g.split(":")[1] for g in groups if g.startswith("v2:")]
    v1 = [g.split(":")[1] for g in groups if g.startswith("v1:")]
    out = []
    if v2:
        out.append(_network("mobilenet_v2_1.0", v2))
    if v1:
        out.append(_network("mobilenet_v1_0.25", v1))
    if "color" in groups:
        out.append(ColorHistogram())
    return out


def _group_of(name: str) -> str:
    """``cnnembedding-1__block12:g1r0c0:3`` -> ``v2:block12``; ``colorhistogram__...`` -> color."""
    extractor, rest = name.split("__", 1)
    if extractor.startswith("colorhistogram"):
        return "color"
    network = "v2" if extractor.endswith("-1") else "v1"
    return f"{network}:{rest.split(':', 1)[0]}"


def candidate_extractor(name: str) -> ImageFeatures:
    """The fitted extractor of candidate ``name`` (a key of :data:`CANDIDATES`).

    ``candidate_extractor("photo+v1+color")`` extracts every candidate's
    columns at once; :func:`score_candidates` picks them out by feature name.

    Examples
    --------
    >>> [type(e).__name__ for e in candidate_extractor("embedding+color").extractors]
    ['CNNEmbedding', 'ColorHistogram']
    """
    if name not in CANDIDATES:
        raise invalid("candidate_extractor", "name", "one of " + ", ".join(CANDIDATES), name)
    return ImageFeatures(_extractors(CANDIDATES[name])).fit()


def score_candidates(X, feature_names, labels, *, cv: int = 5, seed: int = 0,
                     repeats: int = REPEATS) -> list[dict]:
    """Every candidate's CV accuracy on its columns of ``X`` (the exact ridge λ path, same folds).

    The candidates often differ by less than one split of the folds can
    tell apart (on clothing10, "photo" and "photo+v1" swap places from one
    shuffle to the next), so the accuracy is the mean over ``repeats``
    shufflings of the folds (seeds ``seed``, ``seed + 1``...), as scikit-learn's
    ``RepeatedStratifiedKFold``; the ridge path makes each repeat cheap.

    Parameters
    ----------
    X : ndarray of shape (n_images, n_features)
        Features of :func:`candidate_extractor` ``("photo+v1+color")`` (or of
        any extractor whose columns include a candidate's: the others are skipped).
    feature_names : sequence of str
        ``X``'s column names (``get_feature_names_out``).
    labels : array-like
    cv, seed : int
        The folds, the same for every candidate.
    repeats : int, default=3
        Shufflings of the folds averaged.

    Returns
    -------
    list of dict
        In :data:`CANDIDATES` order: ``name``, ``n_features``, ``cv_accuracy``
        (at the best λ, mean over the repeats), ``cv_std`` (over the folds, mean
        over the repeats) and ``columns`` (the candidate's column indices in ``X``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> names = ["cnnembedding-1__embedding:0", "cnnembedding-1__embedding:1",
    ...          "colorhistogram__h0"]
    >>> X, y = rng.normal(size=(40, 3)), np.repeat(["a", "b"], 20)
    >>> X[y == "b", 0] += 3
    >>> [(c["name"], c["n_features"]) for c in score_candidates(X, names, y, cv=2)]
    [('embedding', 2), ('embedding+color', 3)]
    """
    groups = np.array([_group_of(n) for n in feature_names])
    labels = np.asarray(labels)
    scored = []
    for name, wanted in CANDIDATES.items():
        if not np.isin(list(wanted), groups).all():
            continue
        columns = np.flatnonzero(np.isin(groups, wanted))
        accuracy, std = [], []
        for repeat in range(repeats):
            search = RidgeClassifierKFoldCV(cv=cv, random_state=seed + repeat)
            with warnings.catch_warnings(), config_context(progress=False):
                warnings.simplefilter("ignore")  # an edge λ is fine for a comparison
                search.fit(X[:, columns], labels)
            accuracy.append(search.best_score_)
            std.append(search.cv_results_["std_test_score"][search.best_index_])
        scored.append({"name": name, "n_features": int(len(columns)),
                       "cv_accuracy": float(np.mean(accuracy)), "cv_std": float(np.mean(std)),
                       "columns": columns})
    return scored


def best_candidate(scored: list[dict]) -> dict:
    """The candidate of :func:`score_candidates` with the best CV accuracy (ties: the simplest).

    Examples
    --------
    >>> best_candidate([{"name": "embedding", "cv_accuracy": 0.9},
    ...                 {"name": "photo", "cv_accuracy": 0.9}])["name"]
    'embedding'
    """
    return max(scored, key=lambda c: (round(c["cv_accuracy"], 10),
                                      -list(CANDIDATES).index(c["name"])))


def select_photo_features(images, labels, *, cv: int = 5, seed: int = 0) -> Selection:
    """Extract every candidate at once, score each by CV (ridge path), keep the best.

    Parameters
    ----------
    images : sequence
        The training images (paths or arrays).
    labels : array-like
        Their labels.
    cv, seed : int
        The folds of the comparison (the same for every candidate; its first
        repeat's are ``train``'s λ search's).

    Returns
    -------
    Selection

    Raises
    ------
    ImageReadError
        An image cannot be read (as ``train``).
    """
    superset = candidate_extractor("photo+v1+color")
    X = superset.transform(images)
    scored = score_candidates(X, superset.get_feature_names_out(), labels, cv=cv, seed=seed)
    winner = best_candidate(scored)
    extractor = candidate_extractor(winner["name"])
    chosen_X = X[:, winner["columns"]]
    for item in scored:
        del item["columns"]
    return Selection(winner["name"], extractor, chosen_X, scored)
