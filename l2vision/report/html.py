"""The self-contained HTML report of a training or evaluation run.

The report is one HTML file with everything embedded: the summary, the
accuracy-vs-λ curve, the confusion matrix, the evidence per extractor, the
per-class table, and a gallery of the most confident mistakes and of correct
examples per class with their heatmaps (small JPEG thumbnails, base64), its size capped
(:data:`~l2vision.report.gallery.MAX_GALLERY_BYTES`).
"""

from __future__ import annotations

import base64
import html
import json
import os
import warnings
from pathlib import Path

import numpy as np

from l2vision.io.files import read_file_bytes
from l2vision.io.writing import write_file
from l2vision.report.gallery import gallery_html
from l2vision.report.plots import plot_confusion_matrix, plot_evidence_split, plot_lambda_curve
from l2vision.report.robustness import (
    plot_robustness_curves,
    plot_robustness_heatmap,
    robustness_section,
)
from l2vision.report.trust import (
    plot_ood_scores,
    plot_reliability,
    plot_risk_coverage,
    trust_section,
)

__all__ = ["ReportWarning", "report_part", "write_report"]


class ReportWarning(UserWarning):
    """A figure or a section of a report could not be made; the rest was written."""


def _embed(png: Path) -> str:
    data = base64.b64encode(read_file_bytes(png, max_bytes=64 << 20, what="a figure")).decode()
    return f'<img alt="{html.escape(png.stem)}" src="data:image/png;base64,{data}">'


def _trust_part(metrics: dict, figures: dict, directory: Path) -> str:
    """The trust section with its three figures (each skipped alone if it fails)."""
    plots = [report_part("reliability diagram", plot_reliability, figures["reliability"],
                         directory / "reliability.png", ece=metrics["calibration"]["after"]["ece"])]
    if "risk_coverage" in metrics:
        plots.append(report_part("risk-coverage curve", plot_risk_coverage,
                                 metrics["risk_coverage"], directory / "risk_coverage.png"))
    if "ood_scores" in figures and "ood" in metrics:
        plots.append(report_part("ood scores", plot_ood_scores, figures["ood_scores"],
                                 metrics["ood"]["threshold"], directory / "ood_scores.png"))
    return trust_section(metrics, [p for p in plots if p is not None], _embed)


def report_part(what: str, make, *args, **kwargs):
    """``make(*args, **kwargs)``, or None with a :class:`ReportWarning` if it fails.

    A report never loses what was measured: the metrics are written first,
    and a figure that cannot be drawn (an odd class name, a missing font)
    leaves a warning and a report without it.
    """
    try:
        return make(*args, **kwargs)
    except Exception as exc:  # matplotlib and friends raise many types
        warnings.warn(f"report: the {what} could not be made ({type(exc).__name__}: {exc}); "
                      "the report was written without it", ReportWarning, stacklevel=3)
        return None


def write_report(directory: str | os.PathLike, metrics: dict, *, search: dict | None = None,
                 title: str = "l2vision report", details: dict | None = None,
                 predictions: list[dict] | None = None, robustness: dict | None = None,
                 figures: dict | None = None) -> Path:
    """Write ``metrics.json``, the PNG figures and a self-contained ``report.html``.

    Parameters
    ----------
    directory : str or os.PathLike
        Created if needed; files of the same names are replaced.
    metrics : dict
        From :func:`~l2vision.workflows.evaluate.classification_metrics`.
    search : dict or None, default=None
        ``{"cv_results": ..., "lambda": ..., "model": ...}`` to plot the λ curve.
    title : str, default="l2vision report"
    details : dict or None, default=None
        Extra key/value lines for the report's summary table (data, features...).
    predictions : list of dict or None, default=None
        ``{"image", "true", "predicted", "score"}`` per evaluated image (from
        :func:`~l2vision.workflows.evaluate.evaluate_images` with
        ``keep_predictions=True``): the gallery's source.
    robustness : dict or None, default=None
        From :func:`~l2vision.workflows.robustness.robustness`: also writes
        ``robustness.json``, ``robustness_heatmap.png``, ``robustness_severity.png``
        and a section of the report.
    figures : dict or None, default=None
        Arrays of :func:`~l2vision.workflows.trust_metrics.trust_metrics`
        (``reliability``, ``ood_scores``): with ``metrics["calibration"]``,
        a trust section with ``reliability.png``, ``risk_coverage.png`` and
        ``ood_scores.png``. ``evidence_split``
        (:func:`~l2vision.workflows.report_explanations.evidence_figure`):
        ``evidence_split.png``, each extractor's part of each class's score.

    Returns
    -------
    Path
        The report.html file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metrics = {k: v for k, v in metrics.items() if k != "predictions"}
    trust_arrays = figures or {}
    record = {"metrics": metrics, **({"details": details} if details else {})}
    if search:
        record["search"] = {"lambda": search["lambda"], "model": search.get("model"),
                            "cv_results": {k: np.asarray(v).tolist()
                                           for k, v in search["cv_results"].items()}}
    write_file(directory / "metrics.json", json.dumps(record, indent=2))
    if robustness:
        write_file(directory / "robustness.json", json.dumps(robustness, indent=2))
    figures = []
    if search:
        figures.append(report_part("λ curve", plot_lambda_curve, search["cv_results"],
                                   search["lambda"], directory / "lambda_curve.png",
                                   model=f"({search.get('model', '')})",
                                   lambda_1se=search.get("lambda_1se")))
    figures.append(report_part("confusion matrix", plot_confusion_matrix,
                               metrics["confusion_matrix"], metrics["classes"],
                               directory / "confusion_matrix.png"))
    if trust_arrays.get("evidence_split"):
        figures.append(report_part("evidence bars", plot_evidence_split,
                                   trust_arrays["evidence_split"],
                                   directory / "evidence_split.png"))
    figures = [f for f in figures if f is not None]
    section = ""
    if robustness:
        plots = [report_part("robustness heat map", plot_robustness_heatmap, robustness,
                             directory / "robustness_heatmap.png"),
                 report_part("severity curves", plot_robustness_curves, robustness,
                             directory / "robustness_severity.png")]
        section = report_part("robustness section", robustness_section, robustness,
                              [p for p in plots if p is not None], _embed) or ""
    if metrics.get("calibration") and trust_arrays:
        section += report_part("trust section", _trust_part, metrics, trust_arrays, directory) or ""
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
figure.explained{{width:auto}}figure.explained div{{display:flex;gap:2px}}
figure.wrong figcaption{{color:#b00}}</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{summary}</table>
{"".join(f"<p>{_embed(f)}</p>" for f in figures)}
{section}
<h2>Per class</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{per_class}</table>
{(report_part("gallery", gallery_html, predictions) or "") if predictions else ""}
</body></html>
"""
    report = directory / "report.html"
    write_file(report, page)
    return report
