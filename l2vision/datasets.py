"""Image sets: an ImageFolder tree, a CSV manifest, or the built-in digits.

Every loader returns an :class:`ImageSet` (images as paths or arrays, labels,
class names) that unpacks as ``X, y`` for scikit-learn.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l2vision.images import is_image_path

__all__ = [
    "DatasetError",
    "ImageSet",
    "SkippedFilesWarning",
    "load_csv",
    "load_dataset",
    "load_digits_images",
    "load_image_folder",
]


class DatasetError(ValueError):
    """A data set cannot be loaded: the message names the file or folder and the fix."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The folder or manifest does not exist."""


class SkippedFilesWarning(UserWarning):
    """Some files in an image folder were skipped (hidden or not images)."""


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images with their labels: ``X, y = image_set`` works.

    Attributes
    ----------
    images : list of str or list of ndarray
        File paths, or decoded uint8 images.
    labels : ndarray of str, shape (n_images,) or None
        Class name of each image (None for an unlabelled manifest).
    classes : tuple of str
        Sorted class names.
    source : str
        Where the set came from (a folder, a CSV file, ``"digits"``).
    """

    images: list
    labels: np.ndarray | None
    classes: tuple
    source: str = ""

    def __iter__(self):
        return iter((self.images, self.labels))

    def __len__(self) -> int:
        # Two, like the (X, y) pair it unpacks to; use n_images for the image count.
        return 2

    @property
    def n_images(self) -> int:
        """Number of images."""
        return len(self.images)

    def subset(self, indices) -> ImageSet:
        """The images at ``indices`` (labels follow; classes are kept)."""
        indices = np.asarray(indices, dtype=np.intp)
        labels = None if self.labels is None else self.labels[indices]
        return ImageSet([self.images[i] for i in indices], labels, self.classes, self.source)


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def load_image_folder(root: str | os.PathLike) -> ImageSet:
    """Load an ImageFolder tree: ``root/<class name>/**/<image file>``.

    Class folders are sorted by name; files are found recursively and sorted
    by path, so the order is deterministic. Hidden files and folders (names
    starting with ``.``), files with non-image extensions, and loose files
    directly in ``root`` are skipped; a :class:`SkippedFilesWarning` says how
    many and gives examples. Files are not opened here: unreadable images are
    reported when they are decoded.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding one sub-folder per class.

    Returns
    -------
    ImageSet
        Paths as str, labels as class names.

    Raises
    ------
    DatasetError
        ``root`` is missing (also a FileNotFoundError) or not a folder, has no
        class folders, or a class folder holds no image (named).

    Examples
    --------
    >>> import tempfile, pathlib, cv2, numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("cat", "dog"):
    ...     (root / name).mkdir()
    ...     _ = cv2.imwrite(str(root / name / "a.png"), np.zeros((4, 4), np.uint8))
    >>> X, y = load_image_folder(root)
    >>> [pathlib.Path(p).name for p in X], list(y)
    (['a.png', 'a.png'], ['cat', 'dog'])
    """
    root = Path(root)
    if not root.exists():
        raise DatasetNotFoundError(f"{root}: image folder not found")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected one sub-folder per class)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p.name))
    skipped = [p for p in sorted(root.iterdir()) if p.is_file()]
    if not class_dirs:
        raise DatasetError(
            f"{root}: no class folders; expected one sub-folder per class, "
            "e.g. root/cat/1.jpg and root/dog/2.jpg"
        )
    paths, labels = [], []
    for class_dir in class_dirs:
        found = []
        for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if _is_hidden(name) or not is_image_path(name):
                    skipped.append(path)
                else:
                    found.append(path)
        if not found:
            raise DatasetError(
                f"{class_dir}: class {class_dir.name!r} has no image files "
                "(remove the folder or add images)"
            )
        found.sort()
        paths.extend(found)
        labels.extend([class_dir.name] * len(found))
    if skipped:
        examples = ", ".join(str(p) for p in skipped[:3])
        warnings.warn(
            f"{root}: skipped {len(skipped)} file(s) that are hidden, not images by "
            f"extension, or not inside a class folder (e.g. {examples})",
            SkippedFilesWarning,
            stacklevel=2,
        )
    classes = tuple(d.name for d in class_dirs)
    return ImageSet(paths, np.asarray(labels, dtype=object), classes, str(root))


def load_csv(
    path: str | os.PathLike,
    *,
    path_column: str = "path",
    label_column: str | None = "label",
    root: str | os.PathLike | None = None,
) -> ImageSet:
    """Load a CSV manifest with one image path (and label) per row.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (UTF-8, with a header row).
    path_column : str, default="path"
        Column holding the image paths.
    label_column : str or None, default="label"
        Column holding the class names; None for an unlabelled manifest.
    root : str or os.PathLike or None, default=None
        Folder that relative paths resolve against; None uses the CSV's folder.

    Returns
    -------
    ImageSet

    Raises
    ------
    DatasetError
        Missing or empty file, missing column (the message lists the columns
        found), an empty path or label (with its line number).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: manifest file not found")
    base = Path(root) if root is not None else path.parent
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames
        if not columns:
            raise DatasetError(f"{path}: the manifest is empty (expected a header row "
                               f"with a {path_column!r} column)")
        for column in (path_column, label_column):
            if column is not None and column not in columns:
                raise DatasetError(f"{path}: no {column!r} column; the columns are "
                                   f"{', '.join(repr(c) for c in columns)}")
        paths, labels = [], []
        for line, row in enumerate(reader, start=2):
            value = (row.get(path_column) or "").strip()
            if not value:
                raise DatasetError(f"{path}, line {line}: empty {path_column!r}")
            paths.append(str(value if os.path.isabs(value) else base / value))
            if label_column is not None:
                label = (row.get(label_column) or "").strip()
                if not label:
                    raise DatasetError(f"{path}, line {line}: empty {label_column!r}")
                labels.append(label)
    if not paths:
        raise DatasetError(f"{path}: the manifest has a header but no rows")
    if label_column is None:
        return ImageSet(paths, None, (), str(path))
    labels = np.asarray(labels, dtype=object)
    return ImageSet(paths, labels, tuple(sorted(set(labels))), str(path))


def load_digits_images() -> ImageSet:
    """scikit-learn's bundled handwritten digits as 8x8 uint8 gray images.

    1,797 real scans (UCI optical digits), ten classes ``"0"`` to ``"9"``;
    the 0-16 intensities are scaled to 0-255. Needs no download, which makes
    it the built-in default data set of ``l2vision train``.

    Returns
    -------
    ImageSet

    Examples
    --------
    >>> digits = load_digits_images()
    >>> digits.n_images, digits.images[0].shape, digits.images[0].dtype, digits.classes[:3]
    (1797, (8, 8), dtype('uint8'), ('0', '1', '2'))
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = np.asarray([str(t) for t in bunch.target], dtype=object)
    return ImageSet(list(images), labels, tuple(str(c) for c in range(10)), "digits")


def load_dataset(source: str | os.PathLike | None = None, **csv_options) -> ImageSet:
    """Load a folder, a CSV manifest (``.csv``), or the built-in digits (None or ``"digits"``).

    Raises
    ------
    DatasetError
        The source does not exist (also a FileNotFoundError).
    """
    if source is None or str(source) == "digits":
        return load_digits_images()
    path = Path(source)
    if path.is_dir():
        return load_image_folder(path)
    if path.suffix.lower() == ".csv":
        return load_csv(path, **csv_options)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: data not found (give an image folder, a CSV "
                                   "manifest, or nothing for the built-in digits)")
    raise DatasetError(f"{path}: expected an image folder or a .csv manifest")
