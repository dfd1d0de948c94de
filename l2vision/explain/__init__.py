"""Explanations: where in an image the evidence for a class lies, in score units.

- :mod:`~l2vision.explain.explain`: :func:`explain_images` (and
  :func:`iter_explanations`, one image at a time) returns per image and
  class a heatmap that sums to the class's score minus its baseline, the
  score's split per extractor, and whether each map is exact, approximate or
  measured by occlusion;
- :mod:`~l2vision.explain.linear`: the model's steps after its features as
  one linear function (:class:`LinearHead`), and what "standardized" means
  for l2vision's coefficients;
- :mod:`~l2vision.explain.split`: each extractor's part of each class's score,
  exactly, from the features alone (:func:`extractor_split`);
- :mod:`~l2vision.explain.output`: the files both commands write
  (:func:`write_explanations`);
- :mod:`~l2vision.explain.drawing`: the heatmap drawn over the image (:func:`overlay`);
- :mod:`~l2vision.explain.checks`: the checks that the maps mean something
  (deletion, and the randomized-weights sanity check).

The maps come from the extractors (:mod:`l2vision.features.locate`).

Examples
--------
>>> import numpy as np
>>> from l2vision.explain import explain_images
>>> from l2vision.pipelines import make_pipeline
>>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 50, 200, 250)]
>>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, ["dark"] * 2 + ["light"] * 2)
>>> explain_images(model, images[:1])[0].classes[0].label
'dark'
"""

from l2vision._lazy import lazy_exports

_EXPORTS = {
    "ClassExplanation": ".explain",
    "Explanation": ".explain",
    "LinearHead": ".linear",
    "deletion_check": ".checks",
    "ExplainedFolder": ".output",
    "class_split": ".split",
    "explain_images": ".explain",
    "extractor_split": ".split",
    "iter_explanations": ".explain",
    "linear_head": ".linear",
    "overlay": ".drawing",
    "sanity_check": ".checks",
    "write_explanations": ".output",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
