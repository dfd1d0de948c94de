"""The ``l2vision`` command: train, evaluate, score, extract, features, models, robustness, study.

Each command lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``; this module builds the parser and turns errors into one
line on stderr and an exit code: 0 ok, 1 the run stopped on an error, 2 usage,
3 the run finished but some images could not be processed.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from l2vision._version import __version__

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SOME_FAILED = 0, 1, 2, 3


def _commands():
    from l2vision.cli import evaluate, extract, features, models, robustness, score, study, train

    return [train, evaluate, score, extract, features, models, robustness, study]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (tests call ``main([...])`` instead of a subprocess)."""
    parser = argparse.ArgumentParser(
        prog="l2vision",
        description="Classical image classification: image features -> standardize -> "
                    "L2-regularized linear model, with lambda chosen by cross-validation.",
        epilog="Run 'l2vision COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"l2vision {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("logging")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or log lines on stderr")
    group.add_argument("--debug", action="store_true",
                       help="show the full traceback when the run stops on an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _commands():
        module.add_parser(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (``sys.exit(main())`` in the script).

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    l2vision 0.1.0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            warnings.showwarning = _show_warning
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
        name = "" if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: "
        print(f"l2vision {args.command}: error: {name}{cli_text(str(exc))}", file=sys.stderr)
        if not isinstance(exc, (ValueError, OSError, MemoryError)):
            print("(unexpected error; run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr, without the source line."""
    print(f"l2vision: warning: {cli_text(str(message))}", file=sys.stderr)


#: How the library's messages name a parameter, and the option that sets it on the command line.
_OPTIONS = {
    "use overwrite=True": "use --overwrite",
    "or overwrite=True": "or --overwrite",
    "use resume=True": "use --resume",
    "rerun with resume=True": "rerun with --resume",
    "(fail_fast=True;": "(--fail-fast;",
    "with the 'lambdas' parameter.": "with --lambdas MIN:MAX:N.",
    "lower cv or test_size": "lower --cv or --test-size",
    "pass overwrite=True": "use --overwrite",
    "load it with trusted=True": "use --trust-model",
}


def cli_text(message: str) -> str:
    """A library message with its parameter names turned into the command's options.

    Library messages name parameters (``overwrite=True``); users of the
    command line need the flag (``--overwrite``).

    Examples
    --------
    >>> cli_text("p.csv: file exists; use overwrite=True to replace it")
    'p.csv: file exists; use --overwrite to replace it'
    """
    for api, option in _OPTIONS.items():
        message = message.replace(api, option)
    return message


def log(args, message: str) -> None:
    """A progress/log line on stderr, unless --quiet."""
    if not args.quiet:
        print(message, file=sys.stderr)


def parse_size(text: str) -> tuple[int, int]:
    """``"64x48"`` → (64, 48)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        if width < 1 or height < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT like 64x64, got {text!r}") from None
    return width, height


def parse_lambdas(text: str):
    """``"MIN:MAX:N"`` (log-spaced), ``"N"`` (auto range) or ``"a,b,c"`` (explicit values)."""
    import numpy as np

    try:
        if ":" in text:
            low, high, n = text.split(":")
            low, high, n = float(low), float(high), int(n)
            if not (0 < low < high) or n < 2:
                raise ValueError
            return np.logspace(np.log10(low), np.log10(high), n).tolist()
        if "," in text:
            values = [float(v) for v in text.split(",")]
            if min(values) <= 0:
                raise ValueError
            return values
        n = int(text)
        if n < 1:
            raise ValueError
        return n
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected MIN:MAX:N (e.g. 0.01:1e5:40), a count N, or values a,b,c > 0; got {text!r}"
        ) from None


def show_progress(args) -> bool:
    """Progress bars unless --quiet (tqdm itself stays silent when stderr is not a terminal)."""
    return not args.quiet


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def console_main() -> None:
    """Entry point of the installed ``l2vision`` script."""
    sys.exit(main())


def add_scheduler_option(group) -> None:
    """``--scheduler``: run the heavy work on a Dask cluster (train, extract, score)."""
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on a Dask cluster: its scheduler's address (tcp://HOST:8786) "
                            "or 'local' for a cluster of this machine's cores (default: "
                            "$L2VISION_SCHEDULER, else local joblib); needs "
                            "pip install 'l2vision[dask]'")
