"""What every command shares: flags, argument types, settings, output checks and error policy.

Commands import this module, never ``l2vision.cli`` itself. It imports
nothing heavy (no scikit-learn, OpenCV or NumPy at import time), so building
the parser for ``--help`` or ``--version`` stays fast.

Errors become one line on stderr and an exit code (:func:`report_error`).
A library error that names parameters (:class:`~l2vision._validation.ParameterError`,
or any error with a :class:`~l2vision._validation.ParameterHint`) is
rendered with the command's own flags, looked up in argparse's table of the
command's options: ``--test-size must be a float in [0, 1); got 1.5``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = [
    "EXIT_ERROR", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "FEATURE_NAMES", "OneLineParser",
    "add_logging_options", "add_run_options", "add_trust_option", "add_url_options",
    "check_output_folders", "features_help", "flag_for", "log", "parse_lambdas", "parse_size",
    "refuse_existing", "render", "report_error",
    "run_settings", "show_warning",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SOME_FAILED = 0, 1, 2, 3

#: The built-in feature spec names (``l2vision.features.registry.BUILTIN``; a test
#: keeps the two equal), listed in the help without importing the extractors.
FEATURE_NAMES = ("hog", "color", "lbp", "tiny", "cnn", "photo", "best", "kmeans", "bovw")

#: Owners of parameters whose names are the commands' option names.
_OWNERS = {"train", "study", "robustness", "audit", "explain", "score_files", "predict_paths",
           "evaluate_images", "make_pipeline", "make_features", "config_context",
           "ImageFeatures", "RidgeClassifierKFoldCV", "LogisticRegressionKFoldCV"}


class OneLineParser(argparse.ArgumentParser):
    """argparse with a usage error on one line: the error, and where to read the options.

    argparse prints the whole usage (ten lines for ``train``) before its
    error; the catalogue of classic mistakes wants one line that names the
    flag (``tests/cli/test_mistakes.py``).
    """

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but a flag the command does not have is the command's error.

        argparse reports unrecognized arguments from the top parser
        (``l2vision: error: ...``); the command's own parser says it, with
        its own ``--help``.
        """
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            owner = getattr(parsed, "parser", self)
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def features_help() -> str:
    """The ``--features`` option's help (without importing the registry)."""
    return ("'auto' (chosen from the images), or comma-separated feature specs NAME[:ARG...] "
            f"of {', '.join(FEATURE_NAMES)} or a plugin ('l2vision features list' describes "
            "them)")


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` and ``--debug`` (every command has them)."""
    group = parser.add_argument_group("logging")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or log lines on stderr")
    group.add_argument("--debug", action="store_true",
                       help="show the full traceback when the run stops on an error")


def add_url_options(group) -> None:
    """``--allow-urls`` and ``--allow-private-urls``: the remote-URL policy (off by default)."""
    group.add_argument("--allow-urls", action="store_true",
                       help="read remote URLs (https://, s3://, gs://...) among the inputs, "
                            "manifests or stdin lines (off: only local files are read)")
    group.add_argument("--allow-private-urls", action="store_true",
                       help="with --allow-urls, also hosts on loopback, private or link-local "
                            "addresses (services of this machine or network)")


def add_trust_option(group) -> None:
    """``--trust-model``: load a model file outside the allow-list (the ``trusted`` parameter)."""
    group.add_argument("--trust-model", dest="trusted", action="store_true",
                       help="load a model file that needs types outside l2vision's allow-list "
                            "(only for a file you trust: loading it can run code)")


def add_run_options(group, *, scheduler: bool = True, cache: bool = False,
                    batch_size: bool = False, timeout: bool = False, jobs: bool = True) -> None:
    """The flags that set how work runs (:func:`l2vision.config_context`), never the result.

    Also the remote-URL policy (:func:`add_url_options`): every command that
    reads images takes it. ``jobs=False`` for a command that runs in its own
    process only (no ``-j`` it would ignore).
    """
    add_url_options(group)
    if jobs:
        group.add_argument("-j", "--n-jobs", type=int, default=None,
                           help="parallel jobs (-1: all cores)")
    if batch_size:
        group.add_argument("--batch-size", type=int, default=256,
                           help="images per batch (default 256)")
    if timeout:
        group.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                           help="images are decoded in worker processes; one whose decoder "
                                "crashes or takes longer than this gets an error row (default "
                                "30; 0: decode in this process, unguarded, faster for trusted "
                                "files)")
    if cache:
        group.add_argument("--cache", type=Path, default=None, metavar="DIR",
                           help="feature cache folder: a rerun on the same images skips "
                                "extraction")
    if scheduler:
        group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                           help="run on a Dask cluster: its scheduler's address "
                                "(tcp://HOST:8786) or 'local' for a cluster of this machine's "
                                "cores (default: $L2VISION_SCHEDULER, else local joblib); needs "
                                "pip install 'l2vision[dask]'")


#: Settings of config_context whose flag has another name (its argparse dest).
_SETTING_DESTS = {"image_timeout": "timeout", "cache_dir": "cache"}


def run_settings(args) -> dict:
    """The settings of :func:`l2vision.config_context` that the command's flags give."""
    settings = {"progress": not args.quiet}
    if getattr(args, "n_jobs", None) is not None:
        settings["n_jobs"] = args.n_jobs
    if getattr(args, "batch_size", None) is not None:
        settings["batch_size"] = args.batch_size
    if getattr(args, "cache", None) is not None:
        settings["cache_dir"] = args.cache
    if getattr(args, "scheduler", None):
        settings["scheduler"] = args.scheduler
    if getattr(args, "allow_urls", False):
        settings["allow_urls"] = True
    if getattr(args, "allow_private_urls", False):
        settings["allow_private_urls"] = True
    if getattr(args, "timeout", None) is not None:
        if args.timeout == 0:
            settings["isolate"] = False
        else:
            settings["image_timeout"] = args.timeout
    return settings


def log(args, message) -> None:
    """A progress or log line on stderr, unless --quiet (hints rendered with the flags)."""
    if not args.quiet:
        print(render(message, args), file=sys.stderr)


def refuse_existing(paths, *, what: str = "file exists", other: str | None = None) -> None:
    """Raise FileExistsError for the first existing path (checked before any work).

    The message: ``PATH: file exists; use --overwrite`` (``or another OTHER``
    when the command has an option naming that output).
    """
    for path in paths:
        if path is not None and Path(path).exists():
            alternative = f" or another {other}" if other else ""
            raise FileExistsError(f"{path}: {what}; use --overwrite{alternative}")


def check_output_folders(paths) -> None:
    """Raise OSError unless each output's folder exists and is writable (before any work).

    An output in a folder that does not exist is more often a typo than a
    wish for a new folder: l2vision creates report folders, never the folder
    an output is asked to go into.
    """
    for path in paths:
        if path is None:
            continue
        folder = Path(path).parent
        if not folder.is_dir():
            raise FileNotFoundError(f"{path}: the folder {str(folder)!r} does not exist; "
                                    "create it first, or write elsewhere")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{path}: the folder {str(folder)!r} is not writable; "
                                  "write elsewhere")


def parse_size(text: str) -> tuple[int, int]:
    """``"64x48"`` → (64, 48).

    Examples
    --------
    >>> parse_size("64x48")
    (64, 48)
    """
    try:
        width, height = (int(v) for v in text.lower().split("x"))
        if width < 1 or height < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT like 64x64, got {text!r}") from None
    return width, height


def parse_lambdas(text: str):
    """``"MIN:MAX:N"`` (log-spaced), ``"N"`` (auto range) or ``"a,b,c"`` (explicit values).

    Examples
    --------
    >>> [round(v) for v in parse_lambdas("1:100:3")], parse_lambdas("7"), parse_lambdas("2,5")
    ([1, 10, 100], 7, [2.0, 5.0])
    """
    import math

    try:
        if ":" in text:
            low, high, n = text.split(":")
            low, high, n = float(low), float(high), int(n)
            if not (0 < low < high) or n < 2 or not math.isfinite(high):
                raise ValueError
            step = (math.log10(high) - math.log10(low)) / (n - 1)
            return [10 ** (math.log10(low) + i * step) for i in range(n)]
        if "," in text:
            values = [float(v) for v in text.split(",")]
            if min(values) <= 0 or not all(math.isfinite(v) for v in values):
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


def flag_for(parser: argparse.ArgumentParser | None, name: str) -> str | None:
    """The long option (or the positional's name) setting ``dest == name``, if any.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("-t", "--test-size", type=float)
    >>> flag_for(p, "test_size"), flag_for(p, "nope")
    ('--test-size', None)
    """
    if parser is None:
        return None
    for action in parser._actions:  # argparse's table of the command's options
        if action.dest == name and action.dest != "help":
            if action.option_strings:
                return max(action.option_strings, key=len)
            return action.metavar or name.upper()
    return None


def _flag_text(args, name: str, value) -> str:
    """How the command line spells parameter ``name`` set to ``value``."""
    flag = flag_for(getattr(args, "parser", None), name)
    if flag is None:
        return f"{name}={value!r}" if value is not None else repr(name)
    if value is None or value is True:
        return flag
    return f"{flag} {value}"


def render(message, args) -> str:
    """A library message (or hint, or error) in the command line's terms."""
    hint = getattr(message, "hint", message)
    if hasattr(hint, "render"):
        return hint.render(lambda name, value: _flag_text(args, name, value))
    return str(message)


def _parameter_text(exc, args) -> str | None:
    """A ParameterError about one of the command's options, said with the option."""
    owner, name = getattr(exc, "owner", None), getattr(exc, "name", None)
    if owner not in _OWNERS or not isinstance(name, str):
        return None
    if owner == "config_context":
        name = _SETTING_DESTS.get(name, name)
    flag = flag_for(getattr(args, "parser", None), name)
    return exc.describe(flag) if flag else None


def report_error(exc: BaseException, args) -> int:
    """Print one line for an error that stopped the command; the exit code."""
    from l2vision._validation import ParameterError

    command = getattr(args, "command", "")
    if isinstance(exc, ParameterError):
        text = _parameter_text(exc, args) or str(exc)
        print(f"l2vision {command}: error: {text}", file=sys.stderr)
        return EXIT_USAGE
    name = "" if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: "
    text = render(exc, args).replace("\n", " ")
    print(f"l2vision {command}: error: {name}{text}", file=sys.stderr)
    if not isinstance(exc, (ValueError, OSError, MemoryError)):
        print("(unexpected error; run again with --debug for the traceback)", file=sys.stderr)
    return EXIT_ERROR


def show_warning(args):
    """A ``warnings.showwarning`` that prints one line per warning, in the command's terms."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"l2vision: warning: {render(message, args)}", file=sys.stderr)

    return show
