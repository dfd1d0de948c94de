"""Start the isolated decoding workers ahead of the work (imports nothing heavy).

``l2vision score`` and ``evaluate`` decode in worker processes
(:mod:`l2vision.features._isolation`); a new worker spends a second or two
importing NumPy, OpenCV and scikit-learn. :func:`start_decoding_workers`
starts them at once, so that they import while the command itself imports,
loads its model and lists its inputs.
"""

from __future__ import annotations

__all__ = ["start_decoding_workers"]


def start_decoding_workers(n_jobs: int | None = None) -> None:
    """Start (and warm) the isolated decoding workers for ``n_jobs`` (joblib semantics).

    Does nothing when isolation is off (the ``isolate`` setting is False).

    Examples
    --------
    >>> from l2vision import config_context
    >>> with config_context(isolate=False):
    ...     start_decoding_workers(1)  # nothing to start
    """
    from joblib import effective_n_jobs

    from l2vision.config import get_config

    config = get_config()
    if config["isolate"] is False:
        return
    from l2vision.features._isolation import prestart

    prestart(effective_n_jobs(n_jobs if n_jobs is not None else config["n_jobs"]))
