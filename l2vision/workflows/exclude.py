"""Training without the images an audit flagged (``train --exclude audit.csv``)."""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from l2vision.datasets import DatasetError, ImageSet
from l2vision.io.decode import image_name
from l2vision.io.files import read_file_bytes

__all__ = ["DEFAULT_EXCLUDED", "MAX_AUDIT_BYTES", "exclude_flagged"]

#: The issues ``--exclude`` leaves out by default: a wrong label, a second
#: copy, an unreadable file. Quality flags and outliers are often real, hard
#: images: they are left out only when named.
DEFAULT_EXCLUDED = ("label", "exact_duplicate", "near_duplicate", "unreadable")

#: The largest audit.csv read (a file from elsewhere must not exhaust memory).
MAX_AUDIT_BYTES = 256 << 20


def _key(name: str) -> str:
    """A path compared by its real location (``photos/a.jpg`` and ``./photos/a.jpg`` match)."""
    return name if name.startswith("image[") else os.path.realpath(name)


def exclude_flagged(images: ImageSet, audit_csv, issues=DEFAULT_EXCLUDED
                    ) -> tuple[ImageSet, list[dict]]:
    """The images without those ``audit_csv`` flags with one of ``issues``.

    Parameters
    ----------
    images : ImageSet
        The training images (as ``l2vision audit`` was given them).
    audit_csv : str or os.PathLike
        An ``audit.csv`` written by ``l2vision audit``.
    issues : sequence of str, default=DEFAULT_EXCLUDED
        The issue kinds whose images are left out.

    Returns
    -------
    kept : ImageSet
    excluded : list of dict
        ``{"path", "issue"}`` of each image left out (its first matching finding).

    Raises
    ------
    DatasetError
        The file is not an audit.csv, or leaves fewer than two classes.
    """
    from l2vision.workflows.audit import AUDIT_ISSUES

    unknown = sorted(set(issues) - set(AUDIT_ISSUES))
    if unknown:
        raise DatasetError(f"--exclude-issues: unknown issue {unknown[0]!r}; the issues are "
                           f"{', '.join(AUDIT_ISSUES)}")
    data = read_file_bytes(audit_csv, max_bytes=MAX_AUDIT_BYTES, what="an audit.csv")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", "replace"), newline=""))
    if reader.fieldnames is None or not {"path", "issue"} <= set(reader.fieldnames):
        raise DatasetError(f"{audit_csv}: not an audit.csv of l2vision audit (it needs 'path' "
                           f"and 'issue' columns; found {reader.fieldnames})")
    flagged = {}
    for row in reader:
        if row["issue"] in issues and row["path"]:
            flagged.setdefault(_key(row["path"]), row["issue"])
    keep, excluded = [], []
    for i, item in enumerate(images.images):
        name = image_name(item, i)
        issue = flagged.get(_key(name))
        if issue is None:
            keep.append(i)
        else:
            excluded.append({"path": name, "issue": issue})
    kept = images.subset(np.asarray(keep, dtype=np.intp))
    if kept.labels is not None and len(set(kept.labels)) < 2:
        raise DatasetError(f"{audit_csv}: leaving out the {len(excluded)} flagged images "
                           "leaves fewer than two classes; exclude fewer issues")
    return kept, excluded
