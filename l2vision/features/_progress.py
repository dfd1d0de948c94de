"""The progress bar of the batch engine (tqdm on stderr, only when it is a terminal)."""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(enabled: bool, total: int):
    """A tqdm bar over ``total`` images (disabled when not wanted or stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", disable=not enabled or None, leave=False)
