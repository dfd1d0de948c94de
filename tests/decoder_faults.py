"""Run the ``l2vision`` command with decoders that crash or hang on chosen files (tests only).

``python -m tests.decoder_faults RULES ARGS...`` runs ``l2vision ARGS...`` after
replacing the isolated decoding workers' executor by one whose initializer
makes each worker crash (SIGSEGV) or hang when it decodes a file named in
RULES (``crash:c.png,hang:f.png``). Nothing of this is in l2vision itself:
the faults are injected from here, through the worker initializer.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _faulty_decoding(rules: str) -> None:
    """In a worker: wrap the batch decoder's ``as_image`` to crash or hang on the named files."""
    from l2vision.features import _batches

    actions = dict(rule.split(":", 1)[::-1] for rule in rules.split(",") if rule)
    decode = _batches.as_image

    def as_image(item, **kwargs):
        action = actions.get(os.path.basename(os.fspath(item)))
        if action == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif action == "hang":
            time.sleep(3600)
        return decode(item, **kwargs)

    _batches.as_image = as_image


def _start(initializer, initargs, rules: str) -> None:
    """The pool's own initializer, then the faults."""
    if initializer is not None:
        initializer(*initargs)
    _faulty_decoding(rules)


def install(rules: str) -> None:
    """Make every isolated decoding worker started from now on faulty (see the module doc)."""
    from l2vision.features import _isolation

    pool = _isolation.ProcessPoolExecutor

    def faulty_pool(*args, initializer=None, initargs=(), **kwargs):
        return pool(*args, initializer=_start, initargs=(initializer, initargs, rules), **kwargs)

    _isolation.ProcessPoolExecutor = faulty_pool


if __name__ == "__main__":
    install(sys.argv[1])
    from l2vision.cli import main

    sys.exit(main(sys.argv[2:]))
