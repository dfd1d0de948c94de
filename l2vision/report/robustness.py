"""Figures of robustness runs and λ studies: the heat map, the severity curves, the study plot."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from l2vision.corruptions.catalog import FAMILIES
from l2vision.report._plotting import plain_text, pyplot, save_figure

__all__ = ["plot_robustness_curves", "plot_robustness_heatmap", "plot_study",
           "robustness_section"]


def _table(result: dict) -> tuple[list[str], list[int], np.ndarray]:
    names = list(result["accuracy"])
    levels = sorted({int(s) for row in result["accuracy"].values() for s in row})
    values = np.array([[result["accuracy"][n].get(s, result["accuracy"][n].get(str(s), np.nan))
                        for s in levels] for n in names], dtype=float)
    return names, levels, values


def plot_robustness_heatmap(result: dict, path) -> Path:
    """Accuracy per corruption (rows) and severity (columns), annotated; clean in the title."""
    plt = pyplot()
    names, levels, values = _table(result)
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * len(levels), 1.2 + 0.38 * len(names)), dpi=110)
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=max(result["clean_accuracy"], 1e-9),
                      aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="accuracy")
    ax.set_xticks(range(len(levels)), [str(s) for s in levels])
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names])
    ax.set_xlabel("severity")
    for i in range(len(names)):
        for j in range(len(levels)):
            ax.text(j, i, f"{values[i, j]:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] < 0.6 * result["clean_accuracy"] else "black")
    ax.set_title(f"Accuracy under corruptions (clean {result['clean_accuracy']:.1%})")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_robustness_curves(result: dict, path) -> Path:
    """Accuracy against severity: one thin line per corruption, one thick line per family."""
    plt = pyplot()
    names, levels, values = _table(result)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    x = [0, *levels]
    clean = result["clean_accuracy"]
    for k, (family, members) in enumerate(FAMILIES.items()):
        rows = [i for i, n in enumerate(names) if n in members]
        if not rows:
            continue
        color = f"C{k}"
        for i in rows:
            ax.plot(x, [clean, *values[i]], color=color, alpha=0.3, linewidth=0.8)
        ax.plot(x, [clean, *values[rows].mean(axis=0)], color=color, linewidth=2.2, marker="o",
                markersize=4, label=f"{family} ({len(rows)})")
    ax.set_xticks(x, ["clean", *map(str, levels)])
    ax.set_xlabel("severity")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy vs severity (thick: family mean)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def robustness_section(result: dict, figures: list[Path], embed) -> str:
    """The report.html section: the summary figures, then the table by corruption."""
    _, levels, _ = _table(result)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{row.get(s, row.get(str(s), float('nan'))):.1%}</td>" for s in levels)
        + f"<td>{result['per_corruption'][name]:.1%}</td></tr>"
        for name, row in result["accuracy"].items())
    return (f"<h2>Robustness to corruptions</h2><p>Clean accuracy "
            f"{result['clean_accuracy']:.2%}; mean corruption accuracy "
            f"{result['mean_corruption_accuracy']:.2%} (relative robustness "
            f"{result['relative_robustness']:.3f}) over {result['n_images']} images.</p>"
            + "".join(f"<p>{embed(f)}</p>" for f in figures)
            + "<table><tr><th>corruption</th>"
            + "".join(f"<th>severity {s}</th>" for s in levels)
            + f"<th>mean</th></tr>{rows}</table>")


def plot_study(study: dict, path) -> Path:
    """Clean and corrupted held-out accuracy against λ, the CV-chosen λ, the other penalties."""
    plt = pyplot()
    path_rows = study["l2_path"]
    lambdas = np.array([r["lambda"] for r in path_rows])
    fig, ax = plt.subplots(figsize=(7.0, 4.4), dpi=110)
    ax.semilogx(lambdas, [r["clean_accuracy"] for r in path_rows], marker="o", markersize=3,
                color="C0", label="L2: clean")
    ax.semilogx(lambdas, [r["corrupted_accuracy"] for r in path_rows], marker="o", markersize=3,
                color="C1", label="L2: corrupted (mean)")
    chosen = study["chosen_lambda"]
    ax.axvline(chosen, color="C3", linestyle="--", label=f"CV-chosen λ = {chosen:.3g}")
    markers = {"l1": "s", "elasticnet": "D", "none": "*"}
    for penalty, rows in study.get("penalties", {}).items():
        if penalty == "none":
            for key, color in (("clean_accuracy", "C0"), ("corrupted_accuracy", "C1")):
                ax.axhline(rows[0][key], color=color, linestyle=":", linewidth=1)
            continue
        lam = [r["lambda"] for r in rows]
        ax.semilogx(lam, [r["clean_accuracy"] for r in rows], linestyle="none", color="C0",
                    marker=markers.get(penalty, "x"), fillstyle="none", label=f"{penalty}: clean")
        ax.semilogx(lam, [r["corrupted_accuracy"] for r in rows], linestyle="none", color="C1",
                    marker=markers.get(penalty, "x"), fillstyle="none",
                    label=f"{penalty}: corrupted")
    if "none" in study.get("penalties", {}):
        ax.plot([], [], color="gray", linestyle=":", label="no penalty (clean, corrupted)")
    ax.set_xlabel("λ (regularization strength)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(plain_text(f"Accuracy, robustness and calibration vs λ ({study['model']}, "
                            f"{study['features']})"))
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if "clean_ece" in path_rows[0]:
        ece = ax.twinx()  # calibration on its own scale (lower is better)
        ece.semilogx(lambdas, [r["clean_ece"] for r in path_rows], color="C0", linestyle="--",
                     linewidth=1, label="L2: clean ECE (right axis)")
        ece.semilogx(lambdas, [r["corrupted_ece"] for r in path_rows], color="C1",
                     linestyle="--", linewidth=1, label="L2: corrupted ECE (right axis)")
        ece.set_ylabel("expected calibration error (15 bins)")
        more, more_labels = ece.get_legend_handles_labels()
        handles, labels = handles + more, labels + more_labels
    ax.legend(handles, labels, loc="best", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
