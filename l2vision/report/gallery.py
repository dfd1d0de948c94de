"""The report's gallery: thumbnails of the most confident mistakes and of correct images."""

from __future__ import annotations

import base64
import html

from l2vision.io.decode import as_image, convert_color, limit_side
from l2vision.io.errors import ImageReadError

__all__ = ["MAX_GALLERY_BYTES", "gallery_html", "pick_examples", "thumbnail"]

#: The gallery's thumbnails stop before they would take more than this (the report stays small).
MAX_GALLERY_BYTES = 4_000_000
_THUMB_SIDE = 128
_PER_CLASS = 3


def thumbnail(image) -> str | None:
    """A JPEG thumbnail (longer side 128 px) as base64, or None if the image cannot be read."""
    import cv2

    try:
        pixels = convert_color(as_image(image, min_size=(_THUMB_SIDE, _THUMB_SIDE)), "bgr")
    except (ImageReadError, OSError):
        return None
    if max(pixels.shape[:2]) < 64:  # thumbnails of thumbnails: enlarge, keep the pixels crisp
        factor = 64 // max(pixels.shape[:2]) + 1
        pixels = cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    ok, data = cv2.imencode(".jpg", limit_side(pixels, _THUMB_SIDE),
                            [cv2.IMWRITE_JPEG_QUALITY, 80])
    return base64.b64encode(data.tobytes()).decode() if ok else None


def pick_examples(predictions: list[dict], per_class: int = _PER_CLASS) -> tuple[list, list]:
    """``(mistakes, correct)``: the most confident mistakes and the surest correct images,
    at most ``per_class`` of each true class, most confident first."""
    ordered = sorted(predictions, key=lambda p: -p["score"])
    mistakes, correct, taken = [], [], {}
    for p in ordered:
        key = (p["true"], p["true"] == p["predicted"])
        if taken.get(key, 0) < per_class:
            taken[key] = taken.get(key, 0) + 1
            (correct if key[1] else mistakes).append(p)
    return mistakes, correct


def gallery_html(predictions: list[dict]) -> str:
    """The HTML of the gallery: confident mistakes, then correct examples per class.

    A prediction with ``"overlays"`` (``[(class, base64 JPEG)]``, from
    :func:`~l2vision.workflows.report_explanations.explain_examples`) shows
    them beside its image: where the evidence for each class lies.
    """
    mistakes, correct = pick_examples(predictions)
    correct.sort(key=lambda p: p["true"])
    budget, parts = MAX_GALLERY_BYTES, []
    for title, items in (("Most confident mistakes", mistakes), ("Correct examples", correct)):
        figures = []
        for p in items:
            data = thumbnail(p["image"])
            if data is None or len(data) > budget:
                continue
            budget -= len(data)
            overlays = list(p.get("overlays", ()))
            if sum(len(o) for _, o in overlays) > budget:
                overlays = []  # the report stays small: the image alone
            budget -= sum(len(o) for _, o in overlays)
            classes = ["wrong"] if p["true"] != p["predicted"] else []
            classes += ["explained"] if overlays else []
            mark = f' class="{" ".join(classes)}"' if classes else ""
            pictures = "".join(
                f'<img alt="why {html.escape(label)}" title="evidence for {html.escape(label)}: '
                f'red for, blue against" src="data:image/jpeg;base64,{o}">'
                for label, o in overlays)
            why = ("<br>why: " + ", ".join(html.escape(label) for label, _ in overlays)
                   if overlays else "")
            figures.append(
                f'<figure{mark}><div><img alt="{html.escape(p["true"])}" '
                f'src="data:image/jpeg;base64,{data}">{pictures}</div><figcaption>true: '
                f'{html.escape(p["true"])}<br>predicted: {html.escape(p["predicted"])} '
                f'({p["score"]:.3g}){why}</figcaption></figure>')
        if figures:
            parts.append(f"<h2>{title}</h2><div class=\"gallery\">{''.join(figures)}</div>")
    return "".join(parts)
