"""Expand scoring inputs (files, folders, globs, manifests, stdin) into a stream of paths.

The order is deterministic: arguments in the order given; folders walked
recursively in sorted path order (:func:`~l2vision.datasets.walk_images`, the
same walk as training's); glob matches sorted; manifests read by
:func:`~l2vision.datasets.iter_manifest` (a row with a blank path is skipped).
A rerun over the same inputs therefore yields the same sequence, which is what
lets an interrupted scoring run resume.

The inputs are walked once: :func:`check_inputs` only peeks (up to the first
image of each argument) to refuse a typo before any work, and
:class:`InputPaths` streams the paths while counting them.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable, Iterator

from l2vision.datasets import iter_manifest
from l2vision.io.files import is_image_path, walk_images
from l2vision.io.remote import check_url, expand_url, is_url, local_path

__all__ = ["InputError", "InputPaths", "check_inputs", "iter_paths"]

_GLOB_CHARS = set("*?[")


class InputError(ValueError):
    """An input argument matches no image (named in the message)."""


def _expand(item: str, stdin: Iterable[str] | None) -> Iterator[str]:
    if item == "-":
        for line in stdin if stdin is not None else sys.stdin:
            line = line.rstrip("\r\n")
            if line:
                yield line
    elif is_url(item):
        local = local_path(item)
        if local is not None and (os.path.isdir(local) or _GLOB_CHARS & set(local)):
            yield from _expand(local, stdin)
        else:
            expanded = expand_url(item)
            yield from [item] if expanded is None else expanded
    elif os.path.isdir(item):
        yield from walk_images(item)
    elif not os.path.exists(item) and _GLOB_CHARS & set(item):
        for match in sorted(glob.glob(item, recursive=True)):
            yield from (walk_images(match) if os.path.isdir(match) else
                        [match] if is_image_path(match) else [])
    else:
        yield item  # a file (or a missing one: it becomes an error row)


def iter_paths(inputs: Iterable[str], *, manifests: Iterable[str] = (), path_column="path",
               stdin: Iterable[str] | None = None) -> Iterator[str]:
    """Yield the image paths of every input, in order (manifests after the arguments).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.jpg", "notes.txt"):
    ...     _ = (root / name).write_bytes(b"x")
    >>> [pathlib.Path(p).name for p in iter_paths([str(root)])]
    ['a.jpg', 'b.png']
    """
    for item in inputs:
        yield from _expand(str(item), stdin)
    for manifest in manifests:
        for _, path, _ in iter_manifest(str(manifest), path_column):
            yield path


def check_inputs(inputs: Iterable[str], *, manifests: Iterable[str] = ()) -> None:
    """Raise InputError for an argument that matches no image, before any work.

    A missing plain file is refused here (a typo on the command line); files
    named inside manifests or on stdin are not checked (they become error rows).
    """
    for item in map(str, inputs):
        if is_url(item) and local_path(item) is None:
            check_url(item)  # the URL policy, before any work (UrlPolicyError)
            continue  # remote: a missing object becomes an error row
        if item == "-":
            continue
        if is_url(item):
            item = local_path(item)
        if os.path.isdir(item):
            if next(walk_images(item), None) is None:
                raise InputError(f"{item}: folder holds no image files")
        elif not os.path.exists(item):
            if not (_GLOB_CHARS & set(item)) or next(_expand(item, None), None) is None:
                raise InputError(f"{item}: no such file, folder, or matching image")
    for manifest in map(str, manifests):
        if not os.path.isfile(manifest):
            raise InputError(f"{manifest}: manifest file not found")


class InputPaths:
    """The image paths of scoring inputs, streamed once and counted on the way.

    Checks the arguments first (:func:`check_inputs`: an argument matching no
    image is refused before any work), then yields the paths of
    :func:`iter_paths` one at a time; :attr:`count` is how many were yielded
    so far. Iterate once.

    Attributes
    ----------
    count : int

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(b"x")
    >>> paths = InputPaths([str(root)])
    >>> [pathlib.Path(p).name for p in paths], paths.count
    (['a.png'], 1)
    """

    def __init__(self, inputs: Iterable[str], *, manifests: Iterable[str] = (),
                 path_column: str = "path", stdin: Iterable[str] | None = None):
        self.inputs, self.manifests = [str(i) for i in inputs], [str(m) for m in manifests]
        check_inputs(self.inputs, manifests=self.manifests)
        self._paths = iter_paths(self.inputs, manifests=self.manifests, path_column=path_column,
                                 stdin=stdin)
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        path = next(self._paths)
        self.count += 1
        return path
