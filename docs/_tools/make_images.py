"""Regenerate the pictures of docs/img/ from a real run on data/clothes (about 20 s).

    python docs/_tools/make_images.py

Trains on data/clothes/train, evaluates on data/clothes/val, explains two photos,
and copies the report's figures and gallery, the heatmaps and the λ-study figures
(benchmarks/figures/, when present) into docs/img/. The gallery strips show each
image beside its heatmap, as the report does.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
CLI = [sys.executable, "-m", "l2vision"]


def run(*args: str, cwd: Path) -> None:
    subprocess.run([*CLI, *args, "-q"], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fit_width(image: np.ndarray, width: int) -> np.ndarray:
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def gallery(html: str, width: int = 96) -> np.ndarray:
    """The report's thumbnails (each image, then its heatmap), three pairs per row."""
    thumbs = []
    for data in re.findall(r'<img alt="(?:why )?(?:hat|pants|shoes|t-shirt)" '
                           r'(?:title="[^"]*" )?src="data:image/(?:png|jpeg);base64,([^"]+)"',
                           html):
        image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
        thumbs.append(cv2.resize(image, (width, width), interpolation=cv2.INTER_AREA))
    rows = [np.hstack(thumbs[i:i + 6]) for i in range(0, len(thumbs) - len(thumbs) % 6, 6)]
    return np.vstack(rows)


def main() -> None:
    IMG.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run("train", str(ROOT / "data/clothes/train"), "-o", "clothes.joblib", cwd=work)
        run("explain", "clothes.joblib", str(ROOT / "data/clothes/val/hat"),
            str(ROOT / "data/clothes/val/shoes"), "-o", "why", cwd=work)
        report = work / "clothes_report"
        for name in ("lambda_curve", "confusion_matrix", "reliability", "risk_coverage",
                     "ood_scores", "evidence_split"):
            shutil.copyfile(report / f"{name}.png", IMG / f"report_{name}.png")
        cv2.imwrite(str(IMG / "report_gallery.png"),
                    gallery((report / "report.html").read_text()))
        for index, name in (("0000", "explain_hat"), ("0005", "explain_shoes")):
            cv2.imwrite(str(IMG / f"{name}.png"), fit_width(cv2.imread(str(work / "why" /
                                                                         f"{index}.png")), 300))
        curve = cv2.imread(str(report / "lambda_curve.png"))
        matrix = cv2.imread(str(report / "confusion_matrix.png"))
        matrix = cv2.resize(matrix, (round(matrix.shape[1] * curve.shape[0] / matrix.shape[0]),
                                     curve.shape[0]), interpolation=cv2.INTER_AREA)
        top = np.hstack([curve, matrix])
        strip = fit_width(gallery((report / "report.html").read_text()), top.shape[1])
        cv2.imwrite(str(IMG / "report_overview.png"), fit_width(np.vstack([top, strip]), 760))
    for figure in sorted((ROOT / "benchmarks" / "figures").glob("*.png")):
        shutil.copyfile(figure, IMG / figure.name)


if __name__ == "__main__":
    main()
