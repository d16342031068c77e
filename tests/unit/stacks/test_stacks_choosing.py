"""Which stack an app gets: the default when it gives what the app asks for, else the one that
does, else one line saying what was asked and what there is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yun.stacks.choosing import NoStackError, choose
from yun.stacks.declarations import read

OFFERED = {
    "trixie": {"python": "3.13.5", "node": "20.19.2"},
    "testing": {"python": "3.14.8", "node": "24.11.1"},
    "bookworm": {"python": "3.11.2", "node": "18.19.0"},
}


def _declared(tmp_path: Path, files: dict[str, str]):  # type: ignore[no-untyped-def]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return read(tmp_path)


def test_no_declaration_takes_the_default(tmp_path: Path) -> None:
    choice = choose([], offered=OFFERED, default="trixie")
    assert (choice.stack, choice.reason) == ("trixie", "Using stack trixie (the default)")


def test_python_314_picks_the_testing_stack_and_says_why(tmp_path: Path) -> None:
    declared = _declared(tmp_path, {".python-version": "# pinned\n3.14\n"})
    choice = choose(declared, offered=OFFERED, default="trixie")
    assert choice.stack == "testing"
    assert choice.reason == (
        "Using stack testing (Python 3.14.8): .python-version asks for Python 3.14"
    )


def test_the_default_is_kept_when_it_satisfies(tmp_path: Path) -> None:
    declared = _declared(tmp_path, {"package.json": json.dumps({"engines": {"node": ">=18"}})})
    assert choose(declared, offered=OFFERED, default="trixie").stack == "trixie"


def test_an_unsatisfiable_version_is_one_line_naming_file_and_versions(tmp_path: Path) -> None:
    declared = _declared(tmp_path, {".python-version": "2.7\n"})
    with pytest.raises(NoStackError) as failure:
        choose(declared, offered=OFFERED, default="trixie")
    assert str(failure.value) == (
        ".python-version asks for Python 2.7; available: Python 3.13.5 (trixie), "
        "3.14.8 (testing), 3.11.2 (bookworm)"
    )


def test_node_8_is_refused(tmp_path: Path) -> None:
    declared = _declared(tmp_path, {"package.json": json.dumps({"engines": {"node": "^8"}})})
    with pytest.raises(NoStackError, match=r"^package.json engines.node asks for Node.js \^8; "):
        choose(declared, offered=OFFERED, default="trixie")


def test_two_declarations_no_one_stack_has(tmp_path: Path) -> None:
    declared = _declared(
        tmp_path,
        {"runtime.txt": "python-3.11\n", "package.json": '{"engines": {"node": "24"}}'},
    )
    with pytest.raises(NoStackError, match="no one stack has both"):
        choose(declared, offered=OFFERED, default="trixie")


def test_a_named_stack_must_satisfy_the_declaration(tmp_path: Path) -> None:
    declared = _declared(tmp_path, {"runtime.txt": "python-3.14\n"})
    with pytest.raises(NoStackError) as failure:
        choose(declared, offered=OFFERED, default="trixie", requested="bookworm")
    assert str(failure.value) == (
        "runtime.txt asks for Python 3.14, but the stack bookworm has Python 3.11.2"
    )
    assert choose([], offered=OFFERED, default="trixie", requested="bookworm").stack == "bookworm"


def test_an_unknown_stack_is_named(tmp_path: Path) -> None:
    with pytest.raises(NoStackError, match=r"^there is no stack 'cflinuxfs4' \(stacks: trixie"):
        choose([], offered=OFFERED, default="trixie", requested="cflinuxfs4")
