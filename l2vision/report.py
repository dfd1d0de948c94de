"""Figures and a self-contained HTML report of a training or evaluation run.

The report is one HTML file with everything embedded: the summary, the
accuracy-vs-λ curve, the confusion matrix, the per-class table, and a gallery
of the most confident mistakes and of correct examples per class (small JPEG
thumbnails, base64), its size capped (:data:`MAX_GALLERY_BYTES`).
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["MAX_GALLERY_BYTES", "plot_confusion_matrix", "plot_lambda_curve", "write_report"]

#: The gallery's thumbnails stop before they would take more than this (the report stays small).
MAX_GALLERY_BYTES = 4_000_000
_THUMB_SIDE = 128
_PER_CLASS = 3


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_lambda_curve(cv_results: dict, best_lambda: float, path, *, model: str = "",
                      lambda_1se: float | None = None) -> Path:
    """CV accuracy against λ (log axis) with a ±1 std band, the chosen λ and the 1-SE λ marked."""
    plt = _pyplot()
    lambdas = np.asarray(cv_results["lambda"])
    mean = np.asarray(cv_results["mean_test_score"])
    std = np.asarray(cv_results["std_test_score"])
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.semilogx(lambdas, mean, marker="o", markersize=3, label="mean CV accuracy")
    ax.fill_between(lambdas, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), alpha=0.25,
                    label="±1 std over folds")
    best = int(np.argmin(np.abs(lambdas - best_lambda)))
    ax.axvline(best_lambda, color="C3", linestyle="--",
               label=f"chosen λ = {best_lambda:.3g} ({mean[best]:.1%})")
    if lambda_1se is not None and not np.isclose(lambda_1se, best_lambda):
        one = int(np.argmin(np.abs(lambdas - lambda_1se)))
        ax.axvline(lambda_1se, color="C2", linestyle=":",
                   label=f"one-standard-error λ = {lambda_1se:.3g} ({mean[one]:.1%})")
    ax.set_xlabel("λ (regularization strength)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Cross-validated accuracy vs λ {model}".strip())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_confusion_matrix(matrix, classes, path) -> Path:
    """The confusion matrix (rows true, columns predicted) with counts and class names."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    n = len(classes)
    side = min(4 + 0.45 * n, 18)
    fig, ax = plt.subplots(figsize=(side, side * 0.85), dpi=110)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > threshold else "black")
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _thumbnail(image) -> str | None:
    """A JPEG thumbnail (longer side 128 px) as base64, or None if the image cannot be read."""
    import cv2

    from l2vision.images import ImageReadError, as_image, convert_color, limit_side

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


def _gallery(predictions: list[dict]) -> str:
    """The HTML of the gallery: confident mistakes, then correct examples per class."""
    mistakes, correct = pick_examples(predictions)
    correct.sort(key=lambda p: p["true"])
    budget, parts = MAX_GALLERY_BYTES, []
    for title, items in (("Most confident mistakes", mistakes), ("Correct examples", correct)):
        figures = []
        for p in items:
            data = _thumbnail(p["image"])
            if data is None or len(data) > budget:
                continue
            budget -= len(data)
            mark = "" if p["true"] == p["predicted"] else " class=\"wrong\""
            figures.append(
                f'<figure{mark}><img alt="{html.escape(p["true"])}" '
                f'src="data:image/jpeg;base64,{data}"><figcaption>true: '
                f'{html.escape(p["true"])}<br>predicted: {html.escape(p["predicted"])} '
                f'({p["score"]:.3g})</figcaption></figure>')
        if figures:
            parts.append(f"<h2>{title}</h2><div class=\"gallery\">{''.join(figures)}</div>")
    return "".join(parts)


def _embed(png: Path) -> str:
    data = base64.b64encode(png.read_bytes()).decode()
    return f'<img alt="{html.escape(png.stem)}" src="data:image/png;base64,{data}">'


def write_report(directory: str | os.PathLike, metrics: dict, *, search: dict | None = None,
                 title: str = "l2vision report", details: dict | None = None,
                 predictions: list[dict] | None = None, robustness: dict | None = None) -> Path:
    """Write ``metrics.json``, the PNG figures and a self-contained ``report.html``.

    Parameters
    ----------
    directory : str or os.PathLike
        Created if needed; files of the same names are replaced.
    metrics : dict
        From :func:`~l2vision.pipelines.evaluate.classification_metrics`.
    search : dict or None, default=None
        ``{"cv_results": ..., "lambda": ..., "model": ...}`` to plot the λ curve.
    title : str, default="l2vision report"
    details : dict or None, default=None
        Extra key/value lines for the report's summary table (data, features...).
    predictions : list of dict or None, default=None
        ``{"image", "true", "predicted", "score"}`` per evaluated image (from
        :func:`~l2vision.pipelines.evaluate.evaluate_images` with
        ``keep_predictions=True``): the gallery's source.
    robustness : dict or None, default=None
        From :func:`~l2vision.pipelines.robustness.robustness`: also writes
        ``robustness.json``, ``robustness_heatmap.png``, ``robustness_severity.png``
        and a section of the report.

    Returns
    -------
    Path
        The report.html file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metrics = {k: v for k, v in metrics.items() if k != "predictions"}
    record = {"metrics": metrics, **({"details": details} if details else {})}
    if search:
        record["search"] = {"lambda": search["lambda"], "model": search.get("model"),
                            "cv_results": {k: np.asarray(v).tolist()
                                           for k, v in search["cv_results"].items()}}
    (directory / "metrics.json").write_text(json.dumps(record, indent=2))
    figures = [plot_confusion_matrix(metrics["confusion_matrix"], metrics["classes"],
                                     directory / "confusion_matrix.png")]
    if search:
        figures.insert(0, plot_lambda_curve(search["cv_results"], search["lambda"],
                                            directory / "lambda_curve.png",
                                            model=f"({search.get('model', '')})",
                                            lambda_1se=search.get("lambda_1se")))
    section = ""
    if robustness:
        from l2vision.report_robustness import (
            plot_robustness_curves,
            plot_robustness_heatmap,
            robustness_section,
        )

        (directory / "robustness.json").write_text(json.dumps(robustness, indent=2))
        section = robustness_section(robustness, [
            plot_robustness_heatmap(robustness, directory / "robustness_heatmap.png"),
            plot_robustness_curves(robustness, directory / "robustness_severity.png")], _embed)
    rows = {"images evaluated": metrics["n_samples"], "accuracy": f"{metrics['accuracy']:.2%}",
            "balanced accuracy": f"{metrics['balanced_accuracy']:.2%}", **(details or {})}
    summary = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                      for k, v in rows.items())
    per_class = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for c, m in metrics["per_class"].items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;
text-align:left}}img{{max-width:100%}}.gallery{{display:flex;flex-wrap:wrap;gap:.6em}}
figure{{margin:0;width:140px;font-size:.8em}}figure img{{display:block;margin:auto}}
figure.wrong figcaption{{color:#b00}}</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{summary}</table>
{"".join(f"<p>{_embed(f)}</p>" for f in figures)}
{section}
<h2>Per class</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{per_class}</table>
{_gallery(predictions) if predictions else ""}
</body></html>
"""
    report = directory / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
