"""Explain a prediction: where in the image the evidence for a class lies, in score units.

l2vision's models are linear in features that are, for most extractors,
sums over image regions, so a class's score splits over the image's pixels
(class activation maps, Zhou et al. 2016, for pooled CNN layers; the same
for histograms, HOG cells, tiny images and k-means codes). For each image
and class, :func:`explain_images` returns a heatmap at the decoded image's
size whose sum is the class's score minus its *baseline* (with the default
``baseline="mean"``, the score of the average training image: the map sums
to ``coef @ (x - mean)``, the standardized score without its intercept; see
:mod:`~l2vision.explain.linear`), its split per extractor, and how exact
each extractor's map is (:mod:`~l2vision.features.location`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from l2vision._validation import check_option, invalid
from l2vision.explain.linear import LinearHead, linear_head
from l2vision.features.locate import locate_images
from l2vision.features.location import KINDS
from l2vision.io.decode import image_name, image_sequence
from l2vision.pipelines.build import class_scores, split_pipeline

__all__ = ["ClassExplanation", "Explanation", "choose_rows", "explain_features",
           "explain_images", "iter_explanations"]

#: How the heatmaps' sums are anchored: the average training image, or nothing.
BASELINES = ("mean", "zero")


@dataclass
class ClassExplanation:
    """Where the evidence for one class lies in one image.

    Attributes
    ----------
    label : object
        The class explained.
    heatmap : ndarray of float32, shape (H, W)
        Per pixel of the decoded image, its part of the score;
        ``heatmap.sum() == score - baseline`` (to float32 rounding).
        Positive: evidence for the class; negative: against it.
    score : float
        The class's decision value (the model's linear score).
    baseline : float
        The score the heatmap is measured from: the average training image's
        (``baseline="mean"``) or the intercept (``"zero"``).
    probability : float or None
        The model's calibrated probability of the class (None without one).
    split : dict of str to float
        The heatmap's sum per extractor (``hog``, ``colorhistogram``, ``cnn``...).
    kinds : dict of str to str
        Per extractor: ``"exact"``, ``"approximate"`` or ``"occlusion"``.
    """

    label: object
    heatmap: np.ndarray
    score: float
    baseline: float
    probability: float | None
    split: dict
    kinds: dict

    @property
    def evidence(self) -> float:
        """``score - baseline``: what the heatmap sums to."""
        return float(sum(self.split.values()))

    @property
    def kind(self) -> str:
        """The least exact of the extractors' kinds."""
        return max(self.kinds.values(), key=KINDS.index, default="exact")


@dataclass
class Explanation:
    """One image's explanations (one per class explained, best first).

    Attributes
    ----------
    index : int
        Position in the input.
    source : str
        Its path, or ``image[i]`` for an array.
    image : ndarray or None
        The decoded image the heatmaps cover (None if it could not be read).
    classes : list of ClassExplanation
    error : str or None
        Why the image could not be read.
    """

    index: int
    source: str
    image: np.ndarray | None
    classes: list = field(default_factory=list)
    error: str | None = None


def choose_rows(linear: LinearHead, classes=None, top_k: int = 1) -> list[int] | None:
    """The class indices asked for (``classes``), or None: the ``top_k`` best of each image.

    Raises
    ------
    ParameterError
        A class the model does not know (the message lists those it knows),
        or ``top_k`` outside ``[1, n_classes]``.

    Examples
    --------
    >>> head = LinearHead(np.array(["cat", "dog"]), np.ones((1, 2)), np.zeros(1),
    ...                   np.zeros(2), False)
    >>> choose_rows(head, "dog"), choose_rows(head, None, 2)
    ([1], None)
    """
    known = [str(c) for c in linear.classes]
    n = len(known)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= n:
        raise invalid("explain", "top_k", f"an int in [1, {n}] (the model has {n} classes)",
                      top_k)
    if classes is None:
        return None
    wanted = [classes] if isinstance(classes, (str, int, np.integer)) else list(classes)
    rows = []
    for label in wanted:
        if str(label) not in known:
            raise invalid("explain", "classes", "a class of the model ("
                          + ", ".join(known) + ")", label)
        rows.append(known.index(str(label)))
    return rows


def explain_features(features, linear: LinearHead, images, *, classes=None, top_k: int = 1,
                     baseline: str = "mean", head=None) -> Iterator[Explanation]:
    """:func:`iter_explanations` for a fitted ``ImageFeatures`` and a :class:`LinearHead`.

    ``head`` (the model's steps after its features), when given, supplies the
    calibrated probabilities. The sanity check of
    :mod:`~l2vision.explain.checks` passes a head with randomized weights.

    Examples
    --------
    >>> from l2vision.features import ImageFeatures, TinyImage
    >>> features = ImageFeatures([TinyImage((2, 2), color="gray")]).fit()
    >>> head = LinearHead(np.array(["dark", "light"]), np.ones((1, 4)), np.zeros(1),
    ...                   np.zeros(4), False)
    >>> [e] = explain_features(features, head, [np.eye(4, dtype=np.uint8) * 255])
    >>> e.classes[0].label, e.classes[0].heatmap.shape
    ('dark', (4, 4))
    """
    check_option("explain", "baseline", baseline, BASELINES)
    fixed = choose_rows(linear, classes, top_k)
    rows = list(range(len(linear.classes))) if fixed is None else fixed
    weights, _ = linear.rows(rows)
    mean = linear.mean if baseline == "mean" else np.zeros_like(linear.mean)
    baselines = weights @ mean + linear.rows(rows)[1]
    items = image_sequence(images)
    for i, located in locate_images(features, items, weights, weights * mean):
        source = image_name(items[i], i)
        if isinstance(located, Exception):
            yield Explanation(i, source, None, error=str(located))
            continue
        x = located.features.astype(np.float64)
        norm = np.linalg.norm(x) if linear.normalize else 1.0
        scale = 1.0 / norm if norm > 0 else 1.0
        decision = linear.decision(x[None])[0]
        proba = None if head is None or not hasattr(head, "predict_proba") else \
            class_scores(head, located.features[None])[0]
        picked = range(len(rows)) if fixed is not None else \
            np.argsort(-decision, kind="stable")[:top_k]
        sums = located.sums(scale)
        maps = located.heatmaps(list(picked), scale).astype(np.float32)
        kinds = {name: part.kind for name, part in located.parts.items()}
        explained = []
        for heatmap, r in zip(maps, picked, strict=True):
            c = rows[r]
            label = linear.classes[c]
            explained.append(ClassExplanation(
                label.item() if isinstance(label, np.generic) else label, heatmap,
                float(decision[c]), float(baselines[r]),
                None if proba is None else float(proba[c]),
                {name: float(s[r]) for name, s in sums.items()}, kinds))
        yield Explanation(i, source, located.image, explained)


def iter_explanations(model, images, *, classes=None, top_k: int = 1,
                      baseline: str = "mean") -> Iterator[Explanation]:
    """:func:`explain_images`, one image at a time (memory stays bounded on large batches).

    Examples
    --------
    >>> from l2vision.pipelines import make_pipeline
    >>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 50, 200, 250)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, list("aabb"))
    >>> [e.classes[0].label for e in iter_explanations(model, images[1:3])]
    ['a', 'b']
    """
    features, head = split_pipeline(model)
    linear = linear_head(head)
    yield from explain_features(features, linear, images, classes=classes, top_k=top_k,
                                baseline=baseline, head=head)


def explain_images(model, images, *, classes=None, top_k: int = 1,
                   baseline: str = "mean") -> list[Explanation]:
    """Heatmaps of where the evidence for a class lies in each image, with its score's split.

    Parameters
    ----------
    model : Pipeline
        A fitted l2vision pipeline (``l2vision train``, :func:`~l2vision.pipelines.make_pipeline`),
        saved before this function existed or not.
    images : sequence of ndarray, path or bytes, or an ImageSet
    classes : label, list of labels or None, default=None
        The classes to explain in every image; None: the ``top_k`` classes
        with the highest scores (the predicted one first).
    top_k : int, default=1
        With ``classes=None``: how many classes per image.
    baseline : {"mean", "zero"}, default="mean"
        What the heatmap's sum is measured from: ``"mean"``, the score of the
        average training image (the sum is ``coef @ (x - mean)``, the
        standardized score without its intercept; a pixel is positive when it
        argues for the class more than an average image's pixel there);
        ``"zero"``, the intercept (the sum is ``decision - intercept_ = coef_ @ x``).

    Returns
    -------
    list of Explanation
        One per image, in order; an unreadable image has ``error`` set and no classes.

    Raises
    ------
    ParameterError
        A class the model does not know, ``top_k`` out of range, a bad ``baseline``.
    ValueError
        ``model`` is not an l2vision pipeline with a linear classifier.

    Notes
    -----
    Each heatmap sums to ``score - baseline``. Where an extractor's features
    are sums over regions divided by constants of the image (histograms
    without square root, pooled CNN layers, tiny images, k-means codes at
    power 1), each pixel gets exactly what it adds to the score (``"exact"``).
    Where a feature is a non-linear function of such a sum (square-rooted
    histograms, L2-Hys HOG blocks, a power), its contribution is shared
    among the pixels in proportion to their share of the sum
    (``"approximate"``, the one approximation). Extractors that cannot say
    (plugins, VLAD) are measured by occlusion (``"occlusion"``).

    A model with an L2 ``normalize`` step divides the feature vector by its
    norm: the maps are divided by that norm, a constant of the image (as
    the per-image normalizers inside the extractors), so the sums stay
    exact. Flip averaging averages the maps of the image and its mirror
    image (mirrored back): exact too.

    Two-class models have one decision ``d`` for the second class; the first
    class's score is ``-d`` (as :func:`~l2vision.pipelines.build.class_scores`
    spreads it), and its heatmap is the negative of the second's.

    Images are decoded as the model's features decode them, so the scores
    equal ``l2vision score``'s; a large JPEG that the features decode at a
    reduced scale (1/2 to 1/8, when every extractor needs a small image) is
    explained at that scale.

    Examples
    --------
    >>> import numpy as np
    >>> from l2vision.pipelines import make_pipeline
    >>> rng = np.random.default_rng(0)
    >>> images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(6)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, list("ababab"))
    >>> [e] = explain_images(model, images[:1])
    >>> e.classes[0].heatmap.shape, list(e.classes[0].split)
    ((16, 16), ['colorhistogram'])
    """
    return list(iter_explanations(model, images, classes=classes, top_k=top_k,
                                  baseline=baseline))
