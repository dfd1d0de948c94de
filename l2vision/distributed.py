"""Where heavy work runs: this machine (joblib), or a Dask cluster.

One choice for extraction, the λ search and batch scoring: ``--scheduler
ADDRESS`` (``tcp://10.0.0.5:8786``), ``--scheduler local`` (a ``LocalCluster``
of one single-threaded worker process per core), or the environment variable
``L2VISION_SCHEDULER``; in the API the ``scheduler`` setting of
:func:`l2vision.config_context`, or a ``distributed.Client`` already created
in the program. Nothing given: local joblib. A model file never chooses it.
Dask is an optional extra (``pip install
'l2vision[dask]'``); l2vision writes no scheduler or worker protocol of its own:
tasks are plain ``client.submit`` calls, and Dask retries the tasks of lost
workers.

What the workers need: the fitted pipeline is sent once per worker
(``client.scatter(..., broadcast=True)``); the image paths of a task must be
readable on the workers (a shared file system, or fsspec URLs such as
``s3://`` or ``https://``); a CNN extractor's network travels inside the
pickled pipeline as the model file's path, so that file must also exist at
the same path on every worker (or be a bundled network, which ships with the
package).
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator

__all__ = ["DaskUnavailableError", "SCHEDULER_ENV", "Shared", "get_client", "ordered_results"]

#: The environment variable naming the scheduler when no option is given.
SCHEDULER_ENV = "L2VISION_SCHEDULER"

#: Seconds to reach a scheduler before giving up.
CONNECT_TIMEOUT = 5

_INSTALL = "pip install 'l2vision[dask]'"


class DaskUnavailableError(ImportError):
    """A scheduler was asked for but dask.distributed is not installed."""


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailableError(
            f"running on a Dask cluster needs dask.distributed, which is not installed: "
            f"{_INSTALL}") from exc
    return distributed


_LOCAL: dict = {}  # the clients this process made, by address


def get_client(scheduler: str | None = None, *, log: Callable[[str], None] | None = None):
    """The Dask client to use, or None for local joblib.

    Parameters
    ----------
    scheduler : str, distributed.Client or None
        ``"tcp://HOST:PORT"`` (or any address Dask accepts; one client per
        address and process), ``"local"`` (a ``LocalCluster`` sized to this
        machine, started once per process), a
        client, or None: the ``scheduler`` setting of
        :func:`l2vision.config_context` if set, else ``$L2VISION_SCHEDULER``,
        else a client already created in this program
        (``distributed.get_client()``), else None.
    log : callable or None
        Told the dashboard's address once, when a cluster is used.

    The clients made here are not made the program's default client, so a
    later call that names no scheduler stays local; pass the client on (or
    use ``client.as_current()``) to keep working on the cluster.

    Raises
    ------
    DaskUnavailableError
        A scheduler is named but ``dask.distributed`` is not installed (the
        message gives the pip command).
    OSError
        The scheduler cannot be reached within 5 seconds (named in the message).
    """
    import sys

    from l2vision.config import get_config

    if scheduler is None:
        scheduler = get_config()["scheduler"]
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler  # a Client
    loaded = sys.modules.get("distributed")
    if loaded is not None and _inside_a_task(loaded):
        return None  # a task's work stays on its worker: never tasks within tasks
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None:
        if loaded is None:  # not imported: no client can exist, and Dask is not needed
            return None
        try:
            return loaded.get_client()
        except ValueError:
            return None
    distributed = _distributed()
    known = _LOCAL.get(scheduler)
    if known is not None and known.status == "running":
        return known  # one client per address and process
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
        client = _LOCAL["local"] = distributed.Client(cluster, set_as_default=False)
        if log:
            log(f"Dask: local cluster of {len(cluster.workers)} workers; dashboard "
                f"{client.dashboard_link}")
        return client
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler} within "
                      f"{CONNECT_TIMEOUT} s ({type(exc).__name__}); is it running, and is the "
                      "address right?") from None
    _LOCAL[scheduler] = client
    if log:
        workers = len(client.scheduler_info().get("workers", {}))
        log(f"Dask: scheduler {scheduler}, {workers} workers; dashboard {client.dashboard_link}")
    return client


def _inside_a_task(distributed) -> bool:
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


class Shared:
    """An argument of :func:`ordered_results` sent once per worker (``client.scatter``).

    The scattered copy is kept with the object: passing the same ``Shared`` to
    several :func:`ordered_results` calls on one client sends the value once
    (a λ search that extends its grid evaluates twice on the same X). It is
    released with the object.
    """

    def __init__(self, value):
        self.value = value
        self._sent = None  # (client, future)

    def sent_to(self, client, *, again: bool = False):
        """The value's future on ``client``'s workers, scattered now if not yet (or ``again``)."""
        if again or self._sent is None or self._sent[0] is not client:
            self._sent = (client, client.scatter(self.value, broadcast=True, hash=False))
        return self._sent[1]


def ordered_results(client, function: Callable, items: Iterable, *args,
                    in_flight: int | None = None) -> Iterator:
    """``function(item, *args)`` on the cluster for every item, yielded in input order.

    At most ``in_flight`` tasks are submitted ahead of the one being waited
    for (default: twice the workers, at least 2), so memory stays bounded
    whatever the number of items. ``args`` wrapped in :class:`Shared` are
    scattered to every worker (once per ``Shared`` object and client) and
    passed as their values; the others are
    passed as they are. Each item is its own task (``pure=False``); a task
    lost with its worker is run again by Dask. Scattered data can be lost too
    (Dask's memory manager keeps one replica, and its worker may die): the
    tasks that needed it are then cancelled, so the shared arguments are
    scattered again and the pending tasks resubmitted (three times at most).
    """
    from concurrent.futures import CancelledError

    if in_flight is None:
        in_flight = max(2, 2 * len(client.scheduler_info().get("workers", {})))

    def scatter(again: bool = False) -> list:
        return [a.sent_to(client, again=again) if isinstance(a, Shared) else a for a in args]

    sent = scatter()
    pending: deque = deque()
    iterator = iter(items)

    def submit(item):
        pending.append((item, client.submit(function, item, *sent, pure=False)))

    for item in itertools.islice(iterator, in_flight):
        submit(item)
    resent = 0
    while pending:
        item, future = pending[0]
        try:
            result = future.result()
        except CancelledError:
            if resent >= 3 or not any(isinstance(a, Shared) for a in args):
                raise
            resent += 1
            waiting = [queued for queued, _ in pending]
            pending.clear()
            sent = scatter(again=True)
            for queued in waiting:
                submit(queued)
            continue
        pending.popleft()
        future.release()
        for item in itertools.islice(iterator, 1):
            submit(item)
        yield result
