"""The figures of a training or evaluation report: λ curve, confusion matrix, evidence bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2vision.report._plotting import plain_text, pyplot, save_figure

__all__ = ["plot_confusion_matrix", "plot_evidence_split", "plot_lambda_curve"]


def plot_lambda_curve(cv_results: dict, best_lambda: float, path, *, model: str = "",
                      lambda_1se: float | None = None) -> Path:
    """CV accuracy against λ (log axis) with a ±1 std band, the chosen λ and the 1-SE λ marked."""
    plt = pyplot()
    lambdas = np.asarray(cv_results["lambda"], dtype=float)
    # Float arrays: a λ a fold did not reach is NaN (null in a model's JSON metadata).
    mean = np.asarray(cv_results["mean_test_score"], dtype=float)
    std = np.asarray(cv_results["std_test_score"], dtype=float)
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
    return save_figure(fig, path)


def plot_confusion_matrix(matrix, classes, path) -> Path:
    """The confusion matrix (rows true, columns predicted) with counts and class names."""
    plt = pyplot()
    matrix = np.asarray(matrix)
    n = len(classes)
    side = min(4 + 0.45 * n, 18)
    fig, ax = plt.subplots(figsize=(side, side * 0.85), dpi=110)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    labels = [plain_text(c) for c in classes]
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
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
    return save_figure(fig, path)


def plot_evidence_split(split: dict, path) -> Path:
    """Per class, a bar per extractor: its average part of the class's score.

    ``split`` is :func:`~l2vision.explain.split.class_split`'s dict, averaged
    over the images predicted as each class: how much of the score that
    made them that class came from HOG, color, each CNN layer...
    """
    plt = pyplot()
    mean = np.asarray(split["mean"], dtype=float)
    classes, names = split["classes"], split["extractors"]
    n, k = mean.shape
    height = 0.8 / max(k, 1)
    fig, ax = plt.subplots(figsize=(6.4, min(1.2 + 0.35 * n * max(k, 2) / 2, 14)), dpi=110)
    for e, name in enumerate(names):
        ax.barh(np.arange(n) + (e - (k - 1) / 2) * height, np.nan_to_num(mean[:, e]), height,
                label=plain_text(name), color=f"C{e % 10}")
    ax.set_yticks(range(n), [plain_text(c) for c in classes])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("average part of the class's score (images predicted as the class)")
    ax.set_title("Where each class's score comes from")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
