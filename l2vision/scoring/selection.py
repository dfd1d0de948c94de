"""Which scored images to explain: all of them, or the N least confident.

``l2vision score --explain DIR`` explains every image scored;
``--explain-top N`` only the N whose score (the calibrated probability of
their label) is lowest, the ones a person reviews first. The selection sees
the rows as they are written, keeping at most N of them (a heap), so a run
over millions of images stays in bounded memory.
"""

from __future__ import annotations

import heapq

from l2vision._validation import check_int

__all__ = ["ExplainSelection"]


class ExplainSelection:
    """The rows to explain after a scoring run, fed one row at a time.

    Parameters
    ----------
    top : int or None, default=None
        Keep the ``top`` rows with the lowest score (ties: the earlier rows);
        None keeps every scored row.

    Examples
    --------
    >>> pick = ExplainSelection(top=2)
    >>> for i, (path, score) in enumerate([("a", .9), ("b", .4), ("c", None), ("d", .6)]):
    ...     pick.add(i, path, score)
    >>> pick.chosen()
    [(1, 'b'), (3, 'd')]
    """

    def __init__(self, top: int | None = None):
        if top is not None:
            check_int("score_files", "explain_top", top, low=1)
        self.top = top
        self._rows: list = []

    def add(self, index: int, path: str, score: float | None) -> None:
        """One written row: its position, its path and its score (None for an error row)."""
        if score is None:
            return  # an image that could not be read has nothing to explain
        if self.top is None:
            self._rows.append((index, path))
            return
        item = (-score, -index, path)  # the heap's root: the most confident, latest row
        if len(self._rows) < self.top:
            heapq.heappush(self._rows, item)
        elif item > self._rows[0]:
            heapq.heapreplace(self._rows, item)

    def chosen(self) -> list[tuple[int, str]]:
        """``(row, path)`` of the rows kept, in row order."""
        if self.top is None:
            return list(self._rows)
        return sorted((-index, path) for _, index, path in self._rows)
