"""Runtime declarations read as pyenv, uv, pip, Pipenv and npm read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yun.stacks.declarations import DeclarationError, read


def _app(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_python_version_file_with_comment_lines(tmp_path: Path) -> None:
    app = _app(tmp_path, {".python-version": "# The Python version to use\n\n3.14\n"})
    (python,) = read(app)
    assert python.describe() == ".python-version asks for Python 3.14"
    assert python.accepts("3.14.8") and not python.accepts("3.13.5")


@pytest.mark.parametrize(
    ("files", "described", "good", "bad"),
    [
        (
            {"runtime.txt": "python-3.13.1\n"},
            "runtime.txt asks for Python 3.13.1",
            "3.13.5",
            "3.11.2",
        ),
        (
            {".python-version": "cpython-3.11\n"},
            ".python-version asks for Python 3.11",
            "3.11.2",
            "3.1.0",
        ),
        (
            {"Pipfile": '[packages]\nflask = "*"\n\n[requires]\npython_version = "3.11"\n'},
            "Pipfile asks for Python 3.11",
            "3.11.2",
            "3.13.5",
        ),
        (
            {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.12,<3.14"\n'},
            "pyproject.toml requires-python asks for Python >=3.12,<3.14",
            "3.13.5",
            "3.14.0",
        ),
    ],
)
def test_python_declarations(
    tmp_path: Path, files: dict[str, str], described: str, good: str, bad: str
) -> None:
    (python,) = read(_app(tmp_path, files))
    assert python.describe() == described
    assert python.accepts(good)
    assert not python.accepts(bad)


def test_python_version_file_wins_over_pyproject(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        {".python-version": "3.13\n", "pyproject.toml": '[project]\nrequires-python = ">=3.11"\n'},
    )
    (python,) = read(app)
    assert python.source == ".python-version"


@pytest.mark.parametrize(
    ("wanted", "yes", "no"),
    [
        ("^8", ["8.17.0"], ["9.0.0", "18.19.0"]),
        (">=18", ["18.19.0", "24.1.0"], ["16.20.2"]),
        ("20.x", ["20.19.2"], ["18.19.0", "21.0.0"]),
        ("18 || 20", ["18.19.0", "20.1.0"], ["22.1.0"]),
        (">=18 <21", ["20.19.2"], ["22.0.0"]),
        ("~20.11", ["20.11.9"], ["20.12.0"]),
        ("^0.2.3", ["0.2.9"], ["0.3.0"]),
        ("18.0.0 - 20", ["19.1.0", "20.9.9"], ["21.0.0", "17.9.0"]),
        ("<=20", ["20.19.2"], ["21.0.0"]),
        (">20", ["21.0.0"], ["20.19.2"]),
        ("*", ["4.0.0", "24.1.0"], []),
        ("v22.x", ["22.3.0"], ["20.19.2"]),
    ],
)
def test_engines_node_ranges_as_npm_reads_them(
    tmp_path: Path, wanted: str, yes: list[str], no: list[str]
) -> None:
    app = _app(tmp_path, {"package.json": json.dumps({"engines": {"node": wanted}})})
    (node,) = read(app)
    assert node.describe() == f"package.json engines.node asks for Node.js {wanted}"
    assert [v for v in yes if not node.accepts(v)] == []
    assert [v for v in no if node.accepts(v)] == []


def test_no_declaration_no_requirement(tmp_path: Path) -> None:
    app = _app(tmp_path, {"package.json": '{"name": "x"}', "requirements.txt": "flask\n"})
    assert read(app) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({".python-version": "latest-and-greatest\n"}, r"^\.python-version: 'latest-and-greatest'"),
        ({"pyproject.toml": "[project\n"}, r"^pyproject\.toml is not valid TOML"),
        ({"pyproject.toml": '[project]\nrequires-python = "three"\n'}, r"requires-python: 'three'"),
        ({"package.json": "{nope"}, r"^package\.json is not valid JSON"),
        ({"package.json": '{"engines": {"node": ">=x.y.z"}}'}, r"^package\.json engines\.node"),
    ],
)
def test_unreadable_declarations_name_the_file(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    with pytest.raises(DeclarationError, match=message):
        read(_app(tmp_path, files))


def test_go_mod_asks_for_at_least_its_go_directive(tmp_path: Path) -> None:
    app = _app(tmp_path, {"go.mod": "module example.com/x\n\ngo 1.24\n\nrequire a v1.0.0\n"})
    (go,) = read(app)
    assert go.describe() == "go.mod asks for Go >= 1.24"
    assert go.accepts("1.24.4") and go.accepts("1.27.3")
    assert not go.accepts("1.19.8")
