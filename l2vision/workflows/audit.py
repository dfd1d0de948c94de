"""One audit of a labelled image set (and a test set): the findings ``l2vision audit`` writes.

Every image is decoded once, for its quality statistics and hashes
(:class:`~l2vision.workflows.audit_stats.ImageAuditStats`) and its features
(the same extractors ``train`` would use); then:

- ``label``: confident learning on the out-of-fold probabilities of the λ
  search (calibrated by its temperature), :func:`~l2vision.audit.find_label_issues`.
- ``exact_duplicate``: equal decoded pixels (64 bits of their sha256);
  ``near_duplicate``: :func:`~l2vision.audit.near_duplicates` of the features
  within a set (helped by the perceptual hash); ``leak``: a test image equal or
  near to a training image.
- ``outlier``: the held-out k-nearest-neighbour distance of
  :class:`~l2vision.trust.OODDetector` (``method="knn"``, k = 5) far above
  the set's (a robust z of the log squared distance above :data:`OUTLIER_Z`).
- ``blurry``, ``dark``, ``light``, ``low_information``, ``odd_size``,
  ``grayscale``: :func:`~l2vision.audit.flag_quality`, relative to the set.
- ``unreadable``: the image could not be decoded (the audit goes on).

Each finding is a row ``path, issue, score, related_path, suggested_label,
detail`` with ``score`` in [0, 1] (higher: more likely a real problem).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax

from l2vision._validation import check_int
from l2vision.audit import (
    DEFAULT_THRESHOLD,
    ISSUES,
    exact_duplicates,
    find_label_issues,
    flag_quality,
    near_duplicates,
)
from l2vision.datasets import DatasetError, ImageSet, load_dataset
from l2vision.features.combine import with_extractors
from l2vision.features.driver import ImageFeatures
from l2vision.io.decode import image_name
from l2vision.pipelines.build import make_features, make_search
from l2vision.trust import OODDetector, decision_to_logits
from l2vision.workflows.audit_stats import STATS_WIDTH, ImageAuditStats, split_stats
from l2vision.workflows.train import check_trainable

__all__ = ["AUDIT_ISSUES", "OUTLIER_Z", "AuditResult", "audit"]

#: Every issue kind, in the order the rows are sorted by.
AUDIT_ISSUES = ("unreadable", "label", "exact_duplicate", "near_duplicate", "leak", "outlier",
                *ISSUES)

#: Robust z (median and MAD of the log held-out score) past which an image is an outlier.
OUTLIER_Z = 3.5
#: The smallest spread of the log scores used for that z.
MIN_LOG_SPREAD = 0.25


@dataclass
class AuditResult:
    """What :func:`audit` found.

    Attributes
    ----------
    rows : list of dict
        One per finding (``path, issue, score, related_path, suggested_label,
        detail``), sorted by issue (:data:`AUDIT_ISSUES` order), then score descending.
    summary : dict
        Counts per issue, images and classes per set, class balance, the
        features, and the thresholds used.
    images : dict
        ``{path: image}`` of every path in ``rows`` (a path, or an array of the
        built-in digits), for the report's galleries.
    """

    rows: list
    summary: dict
    images: dict = field(default_factory=dict)


def _stats_and_features(extractor, items) -> tuple[np.ndarray, np.ndarray, dict]:
    """Every image's quality statistics and hashes, and its features, from one decode.

    The statistics need the image at its decoded size: with a working
    ``size`` (every image resized right after decoding) they take a pass of
    their own. Returns ``(stats, features, {index: error})``.
    """
    stats_extractor = ("audit_stats", ImageAuditStats())
    if extractor.size is not None:
        stats, stat_errors = ImageFeatures([stats_extractor]).fit() \
            .transform_with_errors(items)
        X, errors = extractor.transform_with_errors(items)
        return stats, X, {**errors, **stat_errors}
    both, errors = with_extractors(extractor, [stats_extractor]).transform_with_errors(items)
    return both[:, :STATS_WIDTH], both[:, STATS_WIDTH:], errors


def _row(path, issue, score, related="", suggested="", detail="") -> dict:
    return {"path": path, "issue": issue, "score": float(np.clip(score, 0, 1)),
            "related_path": related, "suggested_label": suggested, "detail": detail}


def audit(data=None, *, test_data=None, features="auto", model: str = "logreg", cv: int = 5,
          lambdas=None, seed: int = 0,
          near_threshold: float = DEFAULT_THRESHOLD) -> AuditResult:
    """Audit a labelled image set, and a test set against it, before training.

    Parameters
    ----------
    data : ImageSet, str, os.PathLike or None, default=None
        The training images (a folder, a CSV manifest; None: the built-in digits).
    test_data : ImageSet, str, os.PathLike or None, default=None
        A test set: its images are checked for leaks (equal or near copies of
        training images), duplicates and quality; its classes must be ``data``'s.
    features : str, list or ImageFeatures, default="auto"
        The features of the label and near-duplicate checks (as for ``train``).
    model : {"logreg", "ridge"}, default="logreg"
        The model whose out-of-fold probabilities find label issues.
    cv : int, default=5
        Folds of the λ search (and of the outlier scores).
    lambdas : int, array-like or None, default=None
        The λ grid of the search.
    seed : int, default=0
    near_threshold : float, default=0.88
        The cosine similarity of a near-duplicate pair
        (:func:`~l2vision.audit.near_duplicates`; chosen on planted copies).

    Returns
    -------
    AuditResult

    Raises
    ------
    DatasetError
        Missing or empty data, one class, too few images per class for ``cv``,
        or a test set with classes that ``data`` does not have.

    Examples
    --------
    >>> result = audit(features="tiny:8", model="ridge", lambdas=[1.0, 10.0])  # the digits
    >>> result.summary["n_images"], sorted(result.summary["counts"])[:2]
    (1797, ['label', 'low_information'])
    """
    check_int("audit", "cv", cv, low=2)
    check_int("audit", "seed", seed, low=0)
    images = data if isinstance(data, ImageSet) else load_dataset(data)
    check_trainable(images, cv=cv, test_size=0)
    test = None
    if test_data is not None:
        test = test_data if isinstance(test_data, ImageSet) else load_dataset(test_data)
        labels_test = test.labels if test.labels is not None else ()
        foreign = sorted({str(c) for c in labels_test} - {str(c) for c in images.classes})
        if foreign:
            raise DatasetError(f"{test.source}: classes {foreign[:5]} are not classes of "
                               f"{images.source} ({list(images.classes)[:10]}); audit a test "
                               "set labelled with the training set's classes")
    items = list(images.images) + (list(test.images) if test is not None else [])
    n_train = images.n_images
    names = [image_name(item, i) for i, item in enumerate(items)]

    extractor = make_features(features).fit(images.images)
    stats, X, errors = _stats_and_features(extractor, items)
    ok = np.array([i not in errors for i in range(len(items))])
    rows = [_row(names[i], "unreadable", 1.0, detail=errors[i].reason) for i in sorted(errors)]
    quality, phash, pixels = split_stats(stats)

    train_rows = np.flatnonzero(ok[:n_train])
    labels = np.asarray(images.labels).astype(str)
    thresholds = {"near_duplicate_similarity": near_threshold, "outlier_robust_z": OUTLIER_Z,
                  "outlier_min_log_spread": MIN_LOG_SPREAD}
    label_rows, label_info = _label_issues(X[train_rows], labels[train_rows],
                                           [names[i] for i in train_rows], model, cv, lambdas,
                                           seed)
    rows += label_rows
    rows += _outliers(X[train_rows], labels[train_rows], [names[i] for i in train_rows], cv,
                      seed)
    sets = [train_rows] + ([np.flatnonzero(ok[n_train:]) + n_train] if test is not None else [])
    for members in sets:
        rows += _duplicates(X, pixels, phash, members, names, near_threshold)
        rows += _quality(quality[members], [names[i] for i in members])
    if test is not None:
        rows += _leaks(X, pixels, phash, sets[0], sets[1], names, near_threshold)
    order = {name: k for k, name in enumerate(AUDIT_ISSUES)}
    rows.sort(key=lambda r: (order[r["issue"]], -r["score"], r["path"]))
    counts = Counter(r["issue"] for r in rows)
    summary = {
        "data": images.source, "test_data": test.source if test is not None else None,
        "n_images": n_train, "n_test_images": test.n_images if test is not None else 0,
        "features": getattr(extractor, "features_spec_", None) or
        (features if isinstance(features, str) else repr(features)),
        "model": model, "counts": {k: counts[k] for k in AUDIT_ISSUES if counts[k]},
        "class_balance": dict(sorted(Counter(labels.tolist()).items())),
        "thresholds": thresholds, **label_info,
    }
    wanted = {r["path"] for r in rows} | {r["related_path"] for r in rows if r["related_path"]}
    by_name = {name: item for name, item in zip(names, items, strict=True) if name in wanted}
    return AuditResult(rows, summary, by_name)


def _label_issues(X, labels, names, model, cv, lambdas, seed) -> tuple[list, dict]:
    """``label`` rows from the λ search's calibrated out-of-fold probabilities."""
    search = make_search(model, lambdas, cv=cv, random_state=seed).fit(X, labels)
    proba = softmax(decision_to_logits(search.oof_decision_) / search.temperature_, axis=1)
    y = np.searchsorted(search.classes_, labels)
    issues = find_label_issues(proba, y)
    classes = [str(c) for c in search.classes_]
    rows = [_row(names[i], "label", issues.score[i], suggested=classes[issues.suggested_label[i]],
                 detail=f"given {labels[i]!s}, p(given) = {proba[i, y[i]]:.3f}")
            for i in np.flatnonzero(issues.is_issue)]
    return rows, {"lambda": search.lambda_, "cv_accuracy": search.best_score_}


def _outliers(X, labels, names, cv, seed) -> list:
    """``outlier`` rows: held-out nearest-neighbour distances far above the set's."""
    if len(X) < 4 * cv:
        return []
    # k-NN, not Mahalanobis: with fewer images than features (photos) a
    # covariance is degenerate and scores ordinary images as far away.
    # Squared, so that its log scale is that of a (squared) distance.
    raw = OODDetector("knn", n_neighbors=5, cv=cv, random_state=seed).held_out_scores(
        X, labels) ** 2
    # The floor keeps log finite where a degenerate feature set scores 0; the
    # smallest spread (0.25 in log units) keeps a tight set from flagging
    # images barely 2.4x as far (squared) as the median.
    scores = np.log(raw + max(float(np.mean(raw)) * 1e-3, 1e-12))
    median = np.median(scores)
    spread = max(1.4826 * np.median(np.abs(scores - median)), MIN_LOG_SPREAD)
    z = (scores - median) / spread
    return [_row(names[i], "outlier", 1 - np.exp(-(z[i] - OUTLIER_Z)),
                 detail=f"robust z {z[i]:.1f} of the log distance to its 5th nearest image")
            for i in np.flatnonzero(z > OUTLIER_Z)]


def _duplicates(X, pixels, phash, members, names, threshold) -> list:
    """``exact_duplicate`` and ``near_duplicate`` rows within one set (the later image flagged)."""
    rows, exact_pairs = [], set()
    for group in exact_duplicates([str(h) for h in pixels[members]]):
        first = members[group[0]]
        for other in members[group[1:]]:
            rows.append(_row(names[other], "exact_duplicate", 1.0, names[first],
                             detail="the same decoded pixels"))
            exact_pairs.add((first, other))
    if len(members) > 2:
        pairs = near_duplicates(X[members], threshold=threshold,
                                hashes=phash[members].astype(np.uint64))
        for a, b, similarity in zip(*pairs, strict=True):
            first, second = members[a], members[b]
            if (first, second) not in exact_pairs:
                rows.append(_row(names[second], "near_duplicate", _similar(similarity),
                                 names[first], detail=f"cosine similarity {similarity:.3f}"))
    return rows


def _leaks(X, pixels, phash, train, test, names, threshold) -> list:
    """``leak`` rows: a test image equal or near to a training image."""
    rows, flagged = [], set()
    first_of = {}
    for i in train:
        first_of.setdefault(int(pixels[i]), i)
    for i in test:
        if int(pixels[i]) in first_of:
            rows.append(_row(names[i], "leak", 1.0, names[first_of[int(pixels[i])]],
                             detail="the same decoded pixels as a training image"))
            flagged.add(i)
    pairs = near_duplicates(X[test], X[train], threshold=threshold,
                            hashes=phash[test].astype(np.uint64),
                            reference_hashes=phash[train].astype(np.uint64))
    for a, b, similarity in zip(*pairs, strict=True):
        if test[a] not in flagged:
            flagged.add(test[a])
            rows.append(_row(names[test[a]], "leak", _similar(similarity), names[train[b]],
                             detail=f"cosine similarity {similarity:.3f} to a training image"))
    return rows


def _similar(similarity: float) -> float:
    """A pair's score in [0.5, 1]: 0.5 at the smallest similarity reported, 1 when equal."""
    return 0.5 + 0.5 * float(np.clip((similarity - 0.78) / 0.22, 0, 1))


def _quality(stats, names) -> list:
    """Quality rows of one set (thresholds relative to the set)."""
    if len(stats) < 3:
        return []
    flags = flag_quality(stats)
    rows = []
    for j, issue in enumerate(ISSUES):
        for i in np.flatnonzero(flags.is_issue[:, j]):
            rows.append(_row(names[i], issue, flags.score[i, j],
                             detail=f"{int(stats[i, 1])}x{int(stats[i, 0])} px"))
    return rows
