"""The generated parts of the docs: every command has a page, every option and public name
is in the generated text, and no page points at the project's development setup."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from l2vision.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _hook():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "_hooks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _hook()


def _all_parsers(parser, prefix):
    """(name, parser) for a command and each of its actions (``networks info``...)."""
    yield prefix, parser
    for name, child in generate.sub_actions(parser).items():
        yield f"{prefix} {name}", child


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_page_with_its_generated_options(command):
    page = DOCS / "commands" / f"{command}.md"
    assert page.exists(), f"add docs/commands/{command}.md (and a line in mkdocs.yml's nav)"
    text = page.read_text(encoding="utf-8")
    assert f"\n<!-- options: {command} -->\n" in text, f"{page} lacks its options marker"
    assert f"commands/{command}.md" in (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"({command}.md)" in (DOCS / "commands" / "index.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_parser_is_in_the_generated_text(command):
    text = generate.expand(f"<!-- options: {command} -->")
    parser = generate.command_parsers()[command]
    for name, each in _all_parsers(parser, command):
        for action in each._actions:
            if action.help == "==SUPPRESS==" or action.__class__.__name__ == "_SubParsersAction":
                continue
            for flag in action.option_strings or [action.metavar or action.dest]:
                assert f"`{flag}" in text, f"l2vision {name}: {flag} is missing from the page"
            if action.help:
                first_words = " ".join(action.help.split()[:3])
                assert first_words.replace("|", "\\|") in text, (name, action.help)
        if name != command:
            assert f"### `l2vision {name}`" in text


def test_the_options_follow_the_parser():
    """A new flag shows up without editing the page (the hook reads the parser)."""
    import argparse

    parser = generate.command_parsers()["train"]
    parser.add_argument("--a-flag-added-later", help="documented by itself")
    assert "--a-flag-added-later" in generate.options_table(parser)
    assert isinstance(parser, argparse.ArgumentParser)


def test_an_unknown_command_marker_fails_the_build():
    with pytest.raises(ValueError, match="no such command"):
        generate.expand("<!-- options: no-such-command -->")


def test_every_public_name_is_documented_on_an_api_page():
    pages = {module: generate.expand(f"<!-- api: {module} -->")
             for module in generate.API_PAGES}
    owners = generate.api_assignment()
    for module, text in pages.items():
        assert (DOCS / generate.API_PAGES[module]).exists()
        assert f"<!-- api: {module} -->" in (DOCS / generate.API_PAGES[module]).read_text()
        for name, path in generate.public_names(module).items():
            if path is None:
                assert f"| `{name}` |" in text, f"{module}.{name} (a constant) is not listed"
            elif owners[path] == generate.API_PAGES[module]:
                assert f"::: {path}\n" in text + "\n", f"{module}.{name} is not documented"
            else:
                assert f"[`{name}`][{path}]" in text, f"{module}.{name} is not linked"


def test_every_public_package_has_an_api_page():
    import l2vision

    packages = {p.parent.name for p in (REPO / "l2vision").glob("*/__init__.py")}
    documented = {m.split(".")[1] for m in generate.API_PAGES if "." in m}
    # cli is the command line, documented by the command pages.
    assert packages - documented == {"cli"}
    assert l2vision.__all__


def test_the_changelog_page_includes_the_changelog():
    text = generate.expand((DOCS / "changelog.md").read_text(encoding="utf-8"))
    assert "## [Unreleased]" in text


def test_no_page_points_at_the_development_setup():
    """Only the contributor guide may name the project's shared folder."""
    offenders = [str(p.relative_to(REPO)) for p in [REPO / "README.md", *DOCS.rglob("*.md")]
                 if "../shared" in p.read_text(encoding="utf-8")
                 and p != DOCS / "contributing.md"]
    assert not offenders


def test_every_picture_of_the_docs_exists():
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).resolve().exists(), f"{page}: {target}"
