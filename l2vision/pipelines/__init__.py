"""Building and saving l2vision pipelines: features → standardize → L2 linear model.

- :mod:`~l2vision.pipelines.build`: :func:`make_pipeline`, :func:`make_features`,
  and the helpers that split a fitted pipeline into its features and its head;
- :mod:`~l2vision.pipelines.persist`: :func:`save` and :func:`load` (a joblib
  container with metadata, a checksum and an optional signature), loaded
  through the allow-list of :mod:`~l2vision.pipelines._safe_pickle`.

The λ search estimators live in :mod:`l2vision.linear`, the jobs that use
these pipelines in :mod:`l2vision.workflows`.
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "ESTIMATORS": ".build",
    "make_features": ".build",
    "make_pipeline": ".build",
    "load": ".persist",
    "read_metadata": ".persist",
    "save": ".persist",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
