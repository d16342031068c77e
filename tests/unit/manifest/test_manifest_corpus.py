"""The manifest corpus: real-looking manifests with the values or the one error line they give.

Each `corpus/valid/NAME.yml` has a `NAME.json` sidecar with the fields expected on each
application (mappings list only the keys they check; lists and values compare whole), the exact
warnings, and optional `args` (vars files, --var values). Each `corpus/invalid/NAME.yml` has a
`NAME.expected` file with the exact message. `{dir}` stands for the manifest's folder and
`{corpus}` for the corpus folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yun.manifest import Manifest, ManifestError, parse_manifest

CORPUS = Path(__file__).parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.yml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yml"))


def _fill(value: Any, folder: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{dir}", str(folder.resolve())).replace(
            "{corpus}", str(CORPUS.resolve())
        )
    if isinstance(value, list):
        return [_fill(item, folder) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, folder) for key, item in value.items()}
    return value


def _pick(got: Any, want: Any) -> Any:
    """The part of `got` that `want` describes: mappings compare only the keys listed."""
    if isinstance(want, dict) and isinstance(got, dict):
        return {key: _pick(got.get(key, "<missing>"), value) for key, value in want.items()}
    return got


def _parse(manifest: Path, args: dict[str, Any]) -> Manifest:
    return parse_manifest(
        Path(manifest.name),
        vars_files=[Path(p) for p in args.get("vars_files", [])],
        variables=args.get("variables"),
    )


def test_corpus_is_large_enough() -> None:
    assert len(VALID) >= 20
    assert len(INVALID) >= 25


@pytest.mark.parametrize("manifest", VALID, ids=lambda p: p.stem)
def test_valid_manifest_gives_expected_values(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(manifest.parent)
    expected = _fill(json.loads(manifest.with_suffix(".json").read_text()), manifest.parent)

    result = _parse(manifest, expected.get("args", {})).to_dict()

    assert result["path"] == str(manifest.resolve())
    assert result["warnings"] == expected.get("warnings", [])
    assert [app["name"] for app in result["applications"]] == [
        app["name"] for app in expected["applications"]
    ]
    for got, want in zip(result["applications"], expected["applications"], strict=True):
        assert _pick(got, want) == want


@pytest.mark.parametrize("manifest", VALID, ids=lambda p: p.stem)
def test_valid_manifest_survives_a_json_round_trip(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(manifest.parent)
    expected = json.loads(manifest.with_suffix(".json").read_text())
    parsed = _parse(manifest, expected.get("args", {}))

    assert Manifest.from_dict(json.loads(json.dumps(parsed.to_dict()))) == parsed


@pytest.mark.parametrize("manifest", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_reports_one_clear_line(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(manifest.parent)
    expected = _fill(manifest.with_suffix(".expected").read_text().strip(), manifest.parent)

    with pytest.raises(ManifestError) as info:
        parse_manifest(Path(manifest.name))

    assert str(info.value) == expected
    assert "\n" not in str(info.value)
