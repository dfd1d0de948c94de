"""Image sets: an ImageFolder tree, a CSV manifest, or the built-in digits.

Every loader returns an :class:`ImageSet` (images as paths or arrays, labels,
class names) that unpacks as ``X, y`` for scikit-learn.

The folder walk (:func:`~l2vision.io.files.walk_images`) and the manifest reader
(:func:`iter_manifest`) are the only ones in l2vision: batch scoring uses them
too, so training and scoring see the same files in the same order, and treat
manifests by one rule: **a row whose path cell is blank (or missing, in a short
row) is skipped**, like a blank line; in a labelled manifest, a row with a path
but a blank label is an error naming its line.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l2vision.io.files import walk_images
from l2vision.io.remote import is_url

__all__ = [
    "DatasetError",
    "ImageSet",
    "SkippedFilesWarning",
    "iter_manifest",
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
        # ``X, y = image_set`` unpacks the images and the labels.
        return iter((self.images, self.labels))

    def __len__(self) -> int:
        """The number of images (unpacking still gives the two parts)."""
        return len(self.images)

    @property
    def n_images(self) -> int:
        """Number of images."""
        return len(self.images)

    def subset(self, indices) -> ImageSet:
        """The images at ``indices`` (labels follow; classes are kept)."""
        indices = np.asarray(indices, dtype=np.intp)
        labels = None if self.labels is None else self.labels[indices]
        return ImageSet([self.images[i] for i in indices], labels, self.classes, self.source)


def iter_manifest(path: str | os.PathLike, path_column: str = "path", *,
                  columns: tuple = (), root: str | os.PathLike | None = None
                  ) -> Iterator[tuple[int, str, list[str]]]:
    """Rows of a CSV manifest: ``(line number, image path, [values of columns])``, streaming.

    Relative paths resolve against ``root`` (default: the manifest's folder);
    absolute ones and URLs (``https://``, ``s3://``...) are kept. A row whose
    path is blank (or missing in a short row) is skipped; other cells are
    stripped of surrounding spaces, and are ``""`` when missing.

    Raises
    ------
    DatasetError
        The file is empty, or a column is missing (the message lists the columns found).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> manifest = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = manifest.write_text("path,label\\n/a.png,cat\\n ,dog\\n/b.png\\n")
    >>> list(iter_manifest(manifest, columns=("label",)))
    [(2, '/a.png', ['cat']), (4, '/b.png', [''])]
    """
    base = os.fspath(root) if root is not None else os.path.dirname(os.fspath(path))
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise DatasetError(f"{path}: the manifest is empty (expected a header row with a "
                               f"{path_column!r} column)")
        for column in (path_column, *columns):
            if column not in header:
                raise DatasetError(f"{path}: no {column!r} column; the columns are "
                                   f"{', '.join(repr(c) for c in header)}")
        index = [header.index(column) for column in (path_column, *columns)]
        for row in reader:
            values = [row[i].strip() if i < len(row) else "" for i in index]
            if values[0]:
                where = values[0] if is_url(values[0]) else os.path.join(base, values[0])
                yield reader.line_num, where, values[1:]


def load_image_folder(root: str | os.PathLike) -> ImageSet:
    """Load an ImageFolder tree: ``root/<class name>/**/<image file>``.

    Class folders are sorted by name; files are found recursively and sorted
    by path (:func:`walk_images`), so the order is deterministic. Hidden files and folders (names
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
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    skipped = [p for p in sorted(root.iterdir()) if p.is_file()]
    if not class_dirs:
        raise DatasetError(
            f"{root}: no class folders; expected one sub-folder per class, "
            "e.g. root/cat/1.jpg and root/dog/2.jpg"
        )
    paths, labels = [], []
    for class_dir in class_dirs:
        found = list(walk_images(class_dir, skipped=skipped))
        if not found:
            raise DatasetError(
                f"{class_dir}: class {class_dir.name!r} has no image files "
                "(remove the folder or add images)"
            )
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
        found), no rows, a blank label or, in a labelled manifest, an image
        listed twice (with its line numbers). Rows with a blank path are
        skipped (see :func:`iter_manifest`).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: manifest file not found")
    columns = () if label_column is None else (label_column,)
    paths, labels, first_line = [], [], {}
    for line, image, values in iter_manifest(path, path_column, columns=columns, root=root):
        paths.append(image)
        if label_column is not None:
            if not values[0]:
                raise DatasetError(f"{path}, line {line}: empty {label_column!r}")
            if image in first_line:
                # Twice in a labelled set: trained on twice, or in both the training
                # and the held-out split (a leak), or under two labels.
                raise DatasetError(f"{path}, line {line}: {image} is also on line "
                                   f"{first_line[image]}; list each image once")
            first_line[image] = line
            labels.append(values[0])
    if not paths:
        raise DatasetError(f"{path}: the manifest has a header but no rows with a "
                           f"{path_column!r}")
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
