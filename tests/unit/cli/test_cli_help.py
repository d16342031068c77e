"""`yun … --help` reads like the cf CLI's: every option described, values named, no Python types."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from yun.cli.main import app

YUN = str(Path(sys.executable).parent / "yun")
PLACEHOLDER = re.compile(r"<(bool|str|int|float|path|list\[|int range|float range)|\[x[<>]=|<=x")
OPTION_TERM = re.compile(r"^(?:-\w, )?-{1,2}\w[\w-]*(?: [A-Z][A-Z0-9_]*(?:=[A-Z_]+)?)?$")


def _paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*path, name))


PATHS = list(_paths(typer.main.get_command(app)))


def help_of(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def options_of(page: str) -> dict[str, str]:
    """The OPTIONS section as {term: description}; a long term has its text on the next line."""
    lines = page.split("\nOPTIONS:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    found: dict[str, str] = {}
    term = ""
    for line in lines:
        if line.startswith("   -"):
            term, _, text = line.strip().partition("  ")
            found[term] = text.strip()
        elif term:
            found[term] = (found[term] + " " + line.strip()).strip()
    return found


def test_every_command_is_walked() -> None:
    assert len(PATHS) > 50
    assert ("push",) in PATHS and ("server", "stop") in PATHS and ("droplet", "export") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "yun")
def test_help_names_values_and_describes_every_option(path: tuple[str, ...]) -> None:
    page = help_of(*path)
    assert page.startswith("NAME:\n") and "\nUSAGE:\n   " in page, page
    assert not PLACEHOLDER.search(page), page
    assert not set("│╭╮╰╯─") & set(page), page
    options = options_of(page)
    assert "-h, --help" in options
    for term, text in options.items():
        assert OPTION_TERM.match(term), f"{term!r} is not an option and a plain value name"
        assert text, f"yun {' '.join(path)}: {term} has no description"


def test_push_help_reads_like_cf_push() -> None:
    options = options_of(help_of("push"))
    for term in (
        "-i, --instances N",
        "-m, --memory SIZE",
        "-b, --buildpack BUILDPACK",
        "--var KEY=VALUE",
        "-p, --path PATH",
        "-t, --timeout SECONDS",
        "-u, --health-check-type TYPE",
        "--no-start",
        "--no-manifest",
    ):
        assert term in options, sorted(options)
    assert "(0 or more)" in options["-i, --instances N"]
    assert "256M" in options["-m, --memory SIZE"]


def test_a_flag_shows_no_value_and_a_required_option_is_in_usage() -> None:
    assert "--json" in options_of(help_of("apps"))
    page = help_of("rollback")
    assert "yun rollback NAME --version N [OPTIONS]" in page
    assert "--version N" in options_of(page)


def test_examples_are_shown() -> None:
    page = help_of("autoscale")
    examples = page.split("\nEXAMPLES:\n", 1)[1].split("\n\n", 1)[0]
    assert "   yun autoscale myapp --min 2 --max 10 --rps 100" in examples.splitlines()


def test_help_through_a_pipe_is_the_same_plain_text() -> None:
    piped = subprocess.run(
        [YUN, "push", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "-i, --instances N" in piped
    assert not PLACEHOLDER.search(piped) and not set("│╭╮╰╯─") & set(piped)
