"""l2vision's worker processes, which never outlive the run that started them.

A run killed with SIGKILL (an out-of-memory killer, a batch scheduler's
preemption) cannot stop its worker processes; orphaned, they would stay,
idle, holding memory. Each worker runs :func:`exit_with_parent` when it
starts (the initializer of the crash-isolation pool and of the joblib
workers made by :func:`worker_pool`; and at its first task, for workers of
a joblib backend the user chose): a daemon thread checks twice a second
whether its parent is still the process that started it, and ends the
worker at once (``os._exit``) when it is not. It is never started in the
main process (one with no multiprocessing parent): a run itself outlives its
shell.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

__all__ = ["POLL_SECONDS", "exit_with_parent", "worker_pool"]

#: How often a worker checks its parent.
POLL_SECONDS = 0.5

_WATCHING: list = [None]  # the pid of the process whose watchdog runs


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:  # re-parented: the parent is gone
            os._exit(70)


def exit_with_parent() -> None:
    """In a worker process: end it within a second of its parent's death (once per process).

    Does nothing in the main process, and nothing the second time in a worker.

    Examples
    --------
    >>> exit_with_parent()  # in the main process: nothing to watch
    >>> _WATCHING[0] is None
    True
    """
    parent = multiprocessing.parent_process()
    if _WATCHING[0] == os.getpid() or parent is None:
        return
    _WATCHING[0] = os.getpid()
    if os.getppid() != parent.pid:  # the parent died before this worker got to run
        os._exit(70)
    threading.Thread(target=_watch, args=(parent.pid,), name="l2vision-parent-watchdog",
                     daemon=True).start()


def worker_pool(n_jobs, **kwargs):
    """``joblib.Parallel(n_jobs, **kwargs)`` whose loky workers start with :func:`exit_with_parent`.

    A backend the user chose with ``joblib.parallel_config`` (threads, Dask...)
    is kept as it is.
    """
    from joblib import Parallel
    from joblib.parallel import LokyBackend, get_active_backend

    if isinstance(get_active_backend()[0], LokyBackend):
        kwargs["backend"] = LokyBackend(initializer=exit_with_parent)
    return Parallel(n_jobs=n_jobs, **kwargs)
