"""MkDocs hook: the parts of the docs that are generated at build time, so they cannot drift.

Markers in the Markdown pages, replaced before rendering (``on_page_markdown``):

``<!-- options: COMMAND -->``
    the options of ``l2vision COMMAND`` (and of its actions, for ``features`` and
    ``networks``), read from the argparse parser that the command line itself builds.
``<!-- api: MODULE -->``
    the API reference of a public package: one mkdocstrings block per public name of its
    ``__all__``; a name that another API page documents is listed with a link instead.
``<!-- include: PATH -->``
    the text of a file of the repository (the changelog), without its first heading.

``tests/docs/test_generated.py`` checks that every command has a page, that every option
of every parser appears in the generated text, and that every public name is documented.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The API pages, in the order that decides which page documents a name exported by several
#: packages: a subpackage documents its own names; ``l2vision`` (last) documents the rest.
API_PAGES = {
    "l2vision.features": "api/features.md",
    "l2vision.linear": "api/linear.md",
    "l2vision.pipelines": "api/pipelines.md",
    "l2vision.workflows": "api/workflows.md",
    "l2vision.scoring": "api/scoring.md",
    "l2vision.trust": "api/trust.md",
    "l2vision.audit": "api/audit.md",
    "l2vision.explain": "api/explain.md",
    "l2vision.corruptions": "api/corruptions.md",
    "l2vision.io": "api/io.md",
    "l2vision.report": "api/report.md",
    "l2vision": "api/index.md",
}

#: A marker is a line of its own (a marker quoted inside a sentence stays as it is).
_MARKER = re.compile(r"^<!-- (options|api|include): ([\w./-]+) -->$", re.MULTILINE)


# --- command-line options -------------------------------------------------------------------

def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """``{command: parser}`` for every ``l2vision`` command (aliases left out)."""
    from l2vision.cli import COMMANDS, build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: sub.choices[name] for name in COMMANDS}


def sub_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The actions of a command with sub-commands (``networks list``...), else ``{}``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen, out = set(), {}
            for name, child in action.choices.items():
                if id(child) not in seen:
                    seen.add(id(child))
                    out[name] = child
            return out
    return {}


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{s}`" for s in action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(map(str, action.choices)) + "}"
    return ", ".join(f"`{s} {metavar}`" for s in action.option_strings)


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help:
        return ""
    return parser._get_formatter()._expand_help(action)


def options_table(parser: argparse.ArgumentParser) -> str:
    """One table per argument group of *parser*: flags and help, as argparse has them."""
    parts = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        title = {"positional arguments": "arguments"}.get(group.title, group.title)
        rows = [f"| {_flags(a)} | {_cell(_help(parser, a))} |" for a in actions]
        parts.append(f"**{title}**\n\n| option | what it does |\n|---|---|\n" + "\n".join(rows))
    return "\n\n".join(parts)


def render_options(command: str) -> str:
    """The generated Markdown of a command's options (usage, then one table per group)."""
    parsers = command_parsers()
    if command not in parsers:
        raise ValueError(f"<!-- options: {command} -->: no such command; "
                         f"the commands are {', '.join(parsers)}")
    parser = parsers[command]
    actions = sub_actions(parser)
    if not actions:
        return f"```text\n{parser.format_usage().strip()}\n```\n\n{options_table(parser)}\n"
    parts = [f"```text\n{parser.format_usage().strip()}\n```", options_table(parser)]
    for name, child in actions.items():
        parts.append(f"### `l2vision {command} {name}`\n\n```text\n"
                     f"{child.format_usage().strip()}\n```\n\n{options_table(child)}")
    return "\n\n".join(parts) + "\n"


# --- API reference --------------------------------------------------------------------------

def public_names(module_name: str) -> dict[str, str | None]:
    """``{name: dotted path of its definition}`` for a package's ``__all__``; constants: None."""
    module = importlib.import_module(module_name)
    out = {}
    for name in module.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out[name] = f"{obj.__module__}.{obj.__qualname__}"
        else:
            out[name] = None
    return out


def _constant(value) -> str:
    """A constant's value for a table cell: short, and free of memory addresses."""
    if isinstance(value, dict):
        keys = ", ".join(f"`{k}`" for k in list(value)[:6])
        more = f", ... ({len(value)} keys)" if len(value) > 6 else ""
        return f"a dict of {keys}{more}"
    text = repr(value)
    text = text if len(text) <= 70 else text[:67] + "..."
    return "`" + text.replace("|", "\\|") + "`"


def _intro(module) -> str:
    """A package docstring's text before its Examples, with Sphinx roles made code spans."""
    text = inspect.getdoc(module) or ""
    text = re.split(r"\n(?:Examples|Notes|See Also)\n-+\n", text)[0].strip()
    text = re.sub(r":\w+:`~[\w.]*?(\w+)`", r"`\1`", text)
    return re.sub(r":\w+:`([^`]+)`", r"`\1`", text)


def api_assignment() -> dict[str, str]:
    """``{dotted path: page}``: the one page that documents each public class or function."""
    owner: dict[str, str] = {}
    for module_name, page in API_PAGES.items():
        for path in public_names(module_name).values():
            if path is not None:
                owner.setdefault(path, page)
    return owner


def render_api(module_name: str) -> str:
    """mkdocstrings blocks for the names this page documents, links for the others."""
    page = API_PAGES[module_name]
    owner = api_assignment()
    module = importlib.import_module(module_name)
    names = public_names(module_name)
    blocks, elsewhere, constants = [], [], []
    for name, path in sorted(names.items(), key=lambda item: item[0].lower()):
        if path is None:
            constants.append(f"| `{name}` | {_constant(getattr(module, name))} |")
        elif owner[path] == page:
            blocks.append(f"::: {path}")
        else:
            elsewhere.append(f"[`{name}`][{path}]")
    parts = [_intro(module)] if module_name != "l2vision" else []
    if elsewhere:
        parts.append(f"Also exported by `{module_name}` (documented on their own pages): "
                     + ", ".join(elsewhere) + ".")
    if constants:
        parts.append("**Constants**\n\n| name | value |\n|---|---|\n" + "\n".join(constants))
    parts.extend(blocks)
    return "\n\n".join(parts) + "\n"


# --- includes and the hook itself -----------------------------------------------------------

def render_include(path: str) -> str:
    """A repository file's Markdown, without its first ``# `` heading."""
    text = (ROOT / path).read_text(encoding="utf-8")
    return re.sub(r"\A# [^\n]*\n", "", text, count=1)


def expand(markdown: str) -> str:
    """Replace every marker of *markdown* by its generated text."""
    render = {"options": render_options, "api": render_api, "include": render_include}
    return _MARKER.sub(lambda m: render[m.group(1)](m.group(2)), markdown)


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (MkDocs' signature)
    """MkDocs event: expand the markers of each page."""
    return expand(markdown)
