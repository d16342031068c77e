"""((vars)) substitution: where values come from, which source wins, and what a gap looks like."""

from __future__ import annotations

from pathlib import Path

import pytest

from yun.manifest import ManifestError, parse_manifest


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return _write(
        tmp_path,
        "manifest.yml",
        "applications:\n- name: ((name))\n  instances: ((count))\n  env: {HOST: ((host))}\n",
    )


def test_later_vars_file_wins_and_var_wins_over_files(tmp_path: Path, manifest: Path) -> None:
    first = _write(tmp_path, "a.yml", "name: alpha\ncount: 1\nhost: a.internal\n")
    second = _write(tmp_path, "b.yml", "count: 4\nhost: b.internal\n")

    result = parse_manifest(manifest, vars_files=[first, second], variables={"host": "cli.example"})

    app = result.applications[0]
    assert (app.name, app.instances, app.env) == ("alpha", 4, {"HOST": "cli.example"})


def test_whole_value_takes_the_variables_type(tmp_path: Path) -> None:
    path = _write(tmp_path, "manifest.yml", "applications:\n- name: app\n  env: ((settings))\n")
    values = _write(tmp_path, "vars.yml", "settings: {LEVEL: debug, WORKERS: 3}\n")

    app = parse_manifest(path, vars_files=[values]).applications[0]

    assert app.env == {"LEVEL": "debug", "WORKERS": "3"}


def test_var_values_are_validated_like_written_values(manifest: Path) -> None:
    variables = {"name": "app", "count": "many", "host": "h"}
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest, variables=variables)
    assert str(info.value) == f'{manifest}: applications[0].instances: "many" is not a whole number'


def test_string_var_values_still_fill_number_fields(manifest: Path) -> None:
    app = parse_manifest(manifest, variables={"name": "app", "count": "2", "host": "h"})
    assert app.applications[0].instances == 2


def test_unresolved_variable_names_the_flag_to_use(manifest: Path) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest, variables={"name": "app", "count": "1"})
    assert (
        str(info.value) == f"{manifest}: ((host)) has no value; pass --var host=... or --vars-file"
    )


def test_mapping_cannot_be_spliced_into_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "manifest.yml", "applications:\n- name: app-((suffix))\n")
    values = _write(tmp_path, "vars.yml", "suffix: [a, b]\n")
    with pytest.raises(ManifestError) as info:
        parse_manifest(path, vars_files=[values])
    message = f"{path}: ((suffix)) is a list and cannot be part of a longer string"
    assert str(info.value) == message


def test_missing_vars_file(tmp_path: Path, manifest: Path) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest, vars_files=[tmp_path / "nope.yml"])
    assert str(info.value) == f"{tmp_path / 'nope.yml'}: no such file"


def test_vars_file_must_be_a_mapping(tmp_path: Path, manifest: Path) -> None:
    values = _write(tmp_path, "vars.yml", "- name\n- count\n")
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest, vars_files=[values])
    assert str(info.value) == f"{values}: expected a mapping (name: value), not a list"


def test_vars_file_syntax_error_names_its_line(tmp_path: Path, manifest: Path) -> None:
    values = _write(tmp_path, "vars.yml", "name: app\ncount: [1\n")
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest, vars_files=[values])
    assert str(info.value).startswith(f"{values}: line 3: ")


def test_empty_vars_file_adds_nothing(tmp_path: Path, manifest: Path) -> None:
    values = _write(tmp_path, "vars.yml", "# none yet\n")
    result = parse_manifest(
        manifest, vars_files=[values], variables={"name": "app", "count": "1", "host": "h"}
    )
    assert result.applications[0].name == "app"


def test_unused_variables_are_fine_and_text_without_vars_is_untouched(tmp_path: Path) -> None:
    path = _write(tmp_path, "manifest.yml", "applications:\n- name: app\n  command: echo (x)\n")
    app = parse_manifest(path, variables={"unused": "1"}).applications[0]
    assert app.command == "echo (x)"
