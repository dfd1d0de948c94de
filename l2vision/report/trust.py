"""The trust section of a report: reliability diagram, risk-coverage curve, ``ood`` scores.

Figures from :func:`~l2vision.workflows.trust_metrics.trust_metrics`'s
metrics and arrays; :func:`trust_section` is the HTML that shows them with
the calibration and prediction-set table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2vision.report._plotting import pyplot, save_figure

__all__ = ["plot_ood_scores", "plot_reliability", "plot_risk_coverage", "trust_section"]


def plot_reliability(diagram: dict, path, *, ece: float | None = None) -> Path:
    """Accuracy against confidence per bin (the diagonal is perfect calibration), with counts."""
    plt = pyplot()
    edges = np.asarray(diagram["edges"], dtype=float)
    accuracy = np.asarray(diagram["accuracy"], dtype=float)
    count = np.asarray(diagram["count"])
    centers = (edges[:-1] + edges[1:]) / 2
    fig, (ax, bottom) = plt.subplots(2, 1, figsize=(5.2, 5.4), dpi=110, sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(centers, np.nan_to_num(accuracy), width=np.diff(edges), edgecolor="k",
           alpha=0.7, label="accuracy in the bin")
    ax.plot([0, 1], [0, 1], "--", color="C3", label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    title = "Reliability of the calibrated probabilities"
    ax.set_title(title + (f" (ECE {ece:.3f})" if ece is not None else ""), fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    bottom.bar(centers, count, width=np.diff(edges), color="C7", edgecolor="k")
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("images")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_risk_coverage(curve: dict, path) -> Path:
    """Accuracy of the most confident fraction of images against that fraction."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=110)
    ax.plot(curve["coverage"], curve["accuracy"], marker="o", markersize=3)
    ax.set_xlabel("fraction of images accepted (most confident first)")
    ax.set_ylabel("accuracy of the accepted")
    ax.set_title("Risk-coverage: what --min-confidence trades", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_ood_scores(scores, threshold: float, path) -> Path:
    """Histogram of the evaluated images' ``ood`` scores with the model's threshold."""
    plt = pyplot()
    scores = np.asarray(scores, dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=110)
    positive = scores[scores > 0]
    bins = np.geomspace(positive.min(), max(positive.max(), threshold * 1.01), 40) \
        if len(positive) else 40
    ax.hist(scores, bins=bins, color="C0", alpha=0.8)
    if len(positive):
        ax.set_xscale("log")
    ax.axvline(threshold, color="C3", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel("ood score (higher: less like the training images)")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def trust_section(metrics: dict, plots: list, embed) -> str:
    """HTML: the calibration table, the prediction sets, the ``unknown`` share and the plots."""
    calibration = metrics["calibration"]
    rows = "".join(
        f"<tr><th>{name}</th><td>{calibration['before'][key]:.4f}</td>"
        f"<td>{calibration['after'][key]:.4f}</td></tr>"
        for name, key in (("ECE (15 bins)", "ece"), ("negative log-likelihood", "nll"),
                          ("Brier score", "brier")))
    temperature = calibration.get("temperature")
    sets = "".join(
        f"<tr><td>{float(level):.0%}</td><td>{s['coverage']:.2%}</td>"
        f"<td>{s['mean_size']:.2f}</td></tr>"
        for level, s in metrics.get("prediction_sets", {}).items())
    ood = metrics.get("ood")
    parts = [
        "<h2>Trust</h2>",
        "<p>Probabilities are calibrated by temperature scaling"
        + (f" (T = {temperature:.4g})" if temperature else "")
        + ", fitted on the λ search's out-of-fold decision values.</p>",
        "<table><tr><th></th><th>uncalibrated</th><th>calibrated</th></tr>" + rows + "</table>",
    ]
    if sets:
        parts.append("<table><tr><th>prediction sets at</th><th>coverage</th>"
                     f"<th>mean size</th></tr>{sets}</table>")
    if ood:
        share = 1 - ood["accepted"]
        parts.append(f"<p>{share:.1%} of these images are "
                     f"above the model's ood threshold ({ood['threshold']:.4g}): "
                     "<code>score --reject</code> would label them unknown.</p>")
    parts += [f"<p>{embed(p)}</p>" for p in plots]
    return "\n".join(parts)
