"""The ``l2vision`` command: train, evaluate, score, extract, robustness, study, and more.

Each command lives in its own module with ``add_parser(subparsers, common)``
and ``run(args) -> int``; the shared flags, argument types and error policy
are in :mod:`l2vision.cli.options`. Command modules import only that at
import time and the library inside ``run``, so ``l2vision --version`` and
``--help`` load neither scikit-learn nor OpenCV. Exit codes: 0 ok, 1 the run
stopped on an error (one line on stderr), 2 usage, 3 the run finished but
some images could not be processed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from l2vision._version import __version__
from l2vision.cli.options import (
    EXIT_ERROR,
    OneLineParser,
    add_logging_options,
    log,
    report_error,
    run_settings,
    show_warning,
)

__all__ = ["build_parser", "console_main", "main"]

#: The command modules, in the order of the help.
COMMANDS = ("audit", "train", "evaluate", "score", "explain", "extract", "robustness", "study",
            "features", "networks")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (tests call ``main([...])`` instead of a subprocess)."""
    parser = OneLineParser(
        prog="l2vision",
        description="Classical image classification: image features -> standardize -> "
                    "L2-regularized linear model, with lambda chosen by cross-validation.",
        epilog="Run 'l2vision COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"l2vision {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    add_logging_options(common)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"l2vision.cli.{name}").add_parser(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (``sys.exit(main())`` in the script).

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    l2vision 0.2.0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    from l2vision.config import config_context

    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            warnings.showwarning = show_warning(args)
            with config_context(**run_settings(args)):
                if hasattr(args, "scheduler"):
                    from l2vision.distributed import get_client

                    # Connect (or start the local cluster) once, from --scheduler or
                    # $L2VISION_SCHEDULER, and say where its dashboard is; the library's
                    # get_client() then finds this client.
                    get_client(args.scheduler, log=lambda message: log(args, message))
                return args.run(args)
    except BrokenPipeError:  # e.g. `l2vision score ... | head`: the reader has gone
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("l2vision: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return report_error(exc, args)


def console_main() -> None:
    """Entry point of the installed ``l2vision`` script."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

