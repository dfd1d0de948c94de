"""Explanations written to a folder: overlays, raw heatmaps and an index (both commands).

``l2vision explain`` and ``l2vision score --explain`` write the same files
with :func:`write_explanations`: per image ``NNNN.png`` (the heatmap over
the image) and ``NNNN.npy`` (the raw float32 heatmap, the decoded image's
height x width), ``NNNN-r.*`` for the class of rank r >= 2, and
``index.csv`` (:data:`INDEX_COLUMNS`), one row per image and class
explained, an error row for an image that cannot be read. Every file is
written atomically (:func:`~l2vision.io.writing.write_file`) and, unless
``overwrite``, never replaces an existing one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l2vision.explain.drawing import encode_png, overlay
from l2vision.explain.explain import iter_explanations
from l2vision.io.writing import write_file

__all__ = ["INDEX_COLUMNS", "ExplainedFolder", "check_explain_folder", "write_explanations"]

#: The columns of ``index.csv``: ``index`` is the image's position in the
#: input (``score --explain``: its row in the predictions, from 0), ``rank``
#: the class's rank among those explained, ``label`` the class explained,
#: ``score`` its calibrated probability (else its decision value),
#: ``evidence`` what the heatmap sums to, ``kind`` exact, approximate or occlusion.
INDEX_COLUMNS = ["index", "path", "rank", "label", "score", "decision", "evidence", "kind",
                 "error"]


@dataclass
class ExplainedFolder:
    """What :func:`write_explanations` wrote.

    Attributes
    ----------
    index : Path
        The folder's ``index.csv``.
    explained, failed : int
        Images explained, and images that could not be read.
    """

    index: Path
    explained: int
    failed: int


def check_explain_folder(out, overwrite: bool = False, *, option: str = "folder") -> None:
    """Refuse, before any work, a folder that is a file or holds an earlier run's files.

    ``option`` names, in the messages, what gives the folder (``-o DIR``,
    ``--explain DIR``).

    Raises
    ------
    NotADirectoryError
        ``out`` exists and is not a folder.
    FileExistsError
        ``out`` holds ``index.csv`` or numbered heatmaps, and not ``overwrite``.

    Examples
    --------
    >>> import tempfile
    >>> check_explain_folder(Path(tempfile.mkdtemp()) / "why")  # a new folder is fine
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder; give a folder with "
                                 f"{option}")
    if overwrite or not out.is_dir():
        return
    earlier = sorted(p.name for p in out.iterdir()
                     if p.name == "index.csv"
                     or (p.suffix in (".png", ".npy") and p.name[:4].isdigit()))
    if earlier:
        raise FileExistsError(f"{out}: holds the files of an earlier run ({earlier[0]}...); "
                              f"use --overwrite or another {option}")


def write_explanations(model, images: Sequence, out, *, indices: Sequence[int] | None = None,
                       classes=None, top_k: int = 1, baseline: str = "mean",
                       overwrite: bool = False,
                       log: Callable[[str], None] | None = None) -> ExplainedFolder:
    """Explain ``images`` with ``model`` into the folder ``out`` (created if missing).

    Parameters
    ----------
    model : Pipeline
        A fitted l2vision pipeline.
    images : sequence of path or ndarray
        The images, explained one at a time (memory stays bounded).
    out : str or os.PathLike
        The folder; its parent must exist.
    indices : sequence of int or None, default=None
        The number of each image in the files' names and the ``index``
        column (None: 0, 1, 2...). ``score --explain`` passes the rows of
        the predictions, so ``0042.png`` explains row 42.
    classes, top_k, baseline
        As in :func:`~l2vision.explain.explain.explain_images`.
    overwrite : bool, default=False
        Replace files of an earlier run; otherwise an existing file stops the run.
    log : callable or None, default=None
        Called with a line for each image that cannot be read.

    Returns
    -------
    ExplainedFolder

    Examples
    --------
    >>> import tempfile
    >>> from l2vision.pipelines import make_pipeline
    >>> images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 50, 200, 250)]
    >>> model = make_pipeline("color", "ridge", lam=1.0).fit(images, list("aabb"))
    >>> folder = Path(tempfile.mkdtemp()) / "why"
    >>> done = write_explanations(model, images[:2], folder, indices=[7, 9])
    >>> done.explained, sorted(p.name for p in folder.iterdir())
    (2, ['0007.npy', '0007.png', '0009.npy', '0009.png', 'index.csv'])
    """
    log = log or (lambda message: None)
    out = Path(out)
    indices = list(range(len(images))) if indices is None else list(indices)
    if len(indices) != len(images):
        raise ValueError(f"indices: {len(indices)} numbers for {len(images)} images")
    out.mkdir(exist_ok=True)
    rows, explained, failed = [], 0, 0
    for e in iter_explanations(model, images, classes=classes, top_k=top_k, baseline=baseline):
        number = indices[e.index]
        if e.error is not None:
            failed += 1
            log(f"failed: {e.source}: {e.error}")
            rows.append([number, e.source, "", "", "", "", "", "", e.error])
            continue
        explained += 1
        for rank, c in enumerate(e.classes, start=1):
            stem = f"{number:04d}" + ("" if rank == 1 else f"-{rank}")
            _write_maps(out / stem, e.image, c.heatmap, overwrite)
            score = c.score if c.probability is None else c.probability
            rows.append([number, e.source, rank, c.label, f"{score:.6g}", f"{c.score:.6g}",
                         f"{c.evidence:.6g}", c.kind, ""])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(rows)
    index = write_file(out / "index.csv", text.getvalue(), overwrite=overwrite)
    return ExplainedFolder(index, explained, failed)


def _write_maps(stem: Path, image, heatmap, overwrite: bool) -> None:
    """``STEM.npy`` (the raw float32 heatmap) and ``STEM.png`` (the overlay), each atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(heatmap, np.float32), allow_pickle=False)
    write_file(stem.with_suffix(".npy"), buffer.getvalue(), overwrite=overwrite)
    write_file(stem.with_suffix(".png"), encode_png(overlay(image, heatmap)), overwrite=overwrite)
