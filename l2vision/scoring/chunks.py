"""Chunks: the unit of batch scoring, at fixed positions of the input stream.

Scoring reads its inputs as consecutive chunks of ``chunk_size`` paths,
``chunk_size = batch_size * CHUNK_BATCHES``: chunk ``i`` always holds the
inputs at positions ``[i * chunk_size, (i + 1) * chunk_size)``, whatever
``n_jobs``, the backend, or where an earlier run stopped. Every image is
therefore always featurized and predicted within the same group of images,
so results are the same to the bit, which is what lets an interrupted run
resume into a byte-identical output: it restarts at the start of the chunk
that holds its first missing row (:func:`resume_point`). A chunk is also what
a distributed backend sends to a worker as one task.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["CHUNK_BATCHES", "Chunk", "iter_chunks", "resume_point"]

#: Batches per chunk.
CHUNK_BATCHES = 8


@dataclass(frozen=True)
class Chunk:
    """Consecutive input paths: chunk ``index`` starts at input position ``start``.

    Attributes
    ----------
    index : int
    start : int
        Position (0-based) of ``paths[0]`` in the whole input stream.
    paths : tuple of str
    """

    index: int
    start: int
    paths: tuple

    def __len__(self) -> int:
        return len(self.paths)


def iter_chunks(paths: Iterable, chunk_size: int, *, first_index: int = 0) -> Iterator[Chunk]:
    """Cut a stream of paths into chunks, lazily; the first is chunk ``first_index``.

    Examples
    --------
    >>> [(c.index, c.start, c.paths) for c in iter_chunks("abcde", 2)]
    [(0, 0, ('a', 'b')), (1, 2, ('c', 'd')), (2, 4, ('e',))]
    >>> next(iter_chunks("xy", 2, first_index=3)).start
    6
    """
    iterator = iter(paths)
    for index in itertools.count(first_index):
        batch = tuple(os.fspath(p) for p in itertools.islice(iterator, chunk_size))
        if not batch:
            return
        yield Chunk(index, index * chunk_size, batch)


def resume_point(done: int, chunk_size: int) -> tuple[int, int]:
    """``(chunk index, rows of it already written)`` to continue after ``done`` rows.

    Examples
    --------
    >>> resume_point(2500, 2048)
    (1, 452)
    """
    return done // chunk_size, done % chunk_size
