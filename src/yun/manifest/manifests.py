"""Reading a whole manifest file: locating it, ((vars)), top-level defaults, every application.

`parse_manifest` is what `yun push` calls. It loads the YAML, substitutes variables before
anything is validated, applies the deprecated Cloud Foundry style of top-level keys acting as
defaults for every application, validates each application and checks that names are unique.
Whatever goes wrong surfaces as one `ManifestError` line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from yun.manifest.applications import APP_KEYS, read_application
from yun.manifest.documents import load_yaml
from yun.manifest.errors import ManifestError, kind, reported_as, show
from yun.manifest.fields import Scope, as_list, as_mapping
from yun.manifest.models import AppSpec, Manifest
from yun.manifest.variables import load_variables, substitute

MANIFEST_NAMES = ("manifest.yml", "manifest.yaml")
_TOP_LEVEL_KEYS = ("applications", "version")


def parse_manifest(
    path: Path,
    *,
    vars_files: Sequence[Path] = (),
    variables: Mapping[str, str] | None = None,
) -> Manifest:
    """Parse and validate the manifest at `path` (a file, or a folder holding manifest.yml)."""
    with reported_as(str(path)):
        file = _locate(Path(path))
        source = str(file)
        with reported_as(source):
            return _parse(file, source=source, vars_files=vars_files, variables=variables)


def parse_application(
    data: object,
    *,
    source: str,
    index: int,
    base_dir: Path | None = None,
    warnings: list[str] | None = None,
) -> AppSpec:
    """Validate one application mapping, e.g. the JSON body of an API push.

    Errors name ``applications[index]`` in `source`; warnings are appended to `warnings`.
    """
    scope = Scope(source, f"applications[{index}]", [] if warnings is None else warnings)
    with reported_as(source):
        return read_application(data, scope, base_dir=base_dir)


def _locate(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in MANIFEST_NAMES:
        if (path / name).is_file():
            return path / name
    raise ManifestError(str(path), "is a folder without a manifest.yml or manifest.yaml")


def _parse(
    file: Path,
    *,
    source: str,
    vars_files: Sequence[Path],
    variables: Mapping[str, str] | None,
) -> Manifest:
    warnings: list[str] = []
    document = load_yaml(file, source=source, warnings=warnings)
    values = load_variables(vars_files, variables, warnings=warnings)
    document = substitute(document, values, source=source)
    if document is None:
        raise ManifestError(source, "is empty; list your apps under applications:")
    root = Scope(source, "", warnings)
    top = as_mapping(document, root, example="applications: [...]")
    base_dir = file.resolve().parent
    if "inherit" in top:
        raise root.key("inherit").error(
            f"is not supported; copy the settings from {show(top['inherit'])} into this manifest"
        )
    defaults = {k: v for k, v in top.items() if k not in _TOP_LEVEL_KEYS}
    if "applications" not in top:
        if "name" not in top:
            raise root.key("applications").error("is missing; list your apps under applications:")
        root.warn("has no applications: list; reading the top level as one application")
        apps = [read_application(defaults, root, base_dir=base_dir)]
    else:
        apps = _read_applications(top["applications"], defaults, root, base_dir)
    _check_unique_names(apps, root.key("applications"))
    return Manifest(
        path=str(file.resolve()),
        applications=apps,
        warnings=list(dict.fromkeys(warnings)),
    )


def _read_applications(
    value: object, defaults: dict[str, object], root: Scope, base_dir: Path
) -> list[AppSpec]:
    scope = root.key("applications")
    items = as_list(value, scope, example="- name: myapp")
    if not items:
        raise scope.error("is empty; list at least one application")
    if "name" in defaults:
        raise root.key("name").error("belongs under applications:, not at the top level")
    shared = [key for key in defaults if key in APP_KEYS]
    if shared:
        root.warn(
            f"top-level {', '.join(shared)} apply to every application "
            "(deprecated; set them under each application)"
        )
    apps: list[AppSpec] = []
    for index, item in enumerate(items):
        at = scope.item(index)
        if not isinstance(item, dict):
            raise at.error(f"expected a mapping (name: myapp, ...), not {kind(item)}")
        merged, inherited = _merge_defaults(defaults, {str(k): v for k, v in item.items()})
        apps.append(read_application(merged, replace(at, inherited=inherited), base_dir=base_dir))
    return apps


def _merge_defaults(
    defaults: Mapping[str, object], app: Mapping[str, object]
) -> tuple[dict[str, object], frozenset[str]]:
    """Top-level values fill in what the app leaves out; mappings such as env merge deeply."""
    merged = dict(app)
    inherited: set[str] = set()
    for key, value in defaults.items():
        if key not in app:
            merged[key] = value
            inherited.add(key)
        elif isinstance(value, dict) and isinstance(app[key], dict):
            merged[key] = _merge_defaults(value, app[key])[0]  # type: ignore[arg-type]
    return merged, frozenset(inherited)


def _check_unique_names(apps: Sequence[AppSpec], scope: Scope) -> None:
    first: dict[str, int] = {}
    for index, app in enumerate(apps):
        name = app.name.lower()
        if name in first:
            raise (
                scope.item(index)
                .key("name")
                .error(f"{show(app.name)} is already used by {scope.path}[{first[name]}]")
            )
        first[name] = index
