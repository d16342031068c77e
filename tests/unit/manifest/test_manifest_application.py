"""parse_application as the API uses it, locating manifests, min_version, and robustness."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import yun.manifest.manifests
from yun.manifest import (
    AppSpec,
    ManifestError,
    StackatoSpec,
    check_min_version,
    parse_application,
    parse_manifest,
)
from yun.manifest.rendering import to_manifest


def test_request_errors_name_the_request_and_index() -> None:
    with pytest.raises(ManifestError) as info:
        parse_application({"name": "web", "memory": "lots"}, source="request", index=2)
    assert (
        str(info.value) == 'request: applications[2].memory: "lots" is not a size like 256M or 1G'
    )


def test_request_must_be_a_mapping() -> None:
    with pytest.raises(ManifestError) as info:
        parse_application(["web"], source="request", index=0)
    message = "request: applications[0]: expected a mapping (name: myapp, memory: 256M), not a list"
    assert str(info.value) == message


def test_request_warnings_go_to_the_given_list() -> None:
    warnings: list[str] = []
    spec = parse_application(
        {"name": "web", "memroy": "1G"}, source="request", index=0, warnings=warnings
    )
    assert spec.memory_mb is None
    assert warnings == [
        "request: applications[0].memroy: unknown key, ignored (did you mean memory?)"
    ]


def test_path_is_kept_as_given_without_a_base_dir_and_checked_with_one(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    data = {"name": "web", "path": "src"}

    assert parse_application(data, source="request", index=0).path == "src"
    resolved = parse_application(data, source="m.yml", index=0, base_dir=tmp_path).path
    assert resolved == str((tmp_path / "src").resolve())


def test_folder_is_searched_for_manifest_yml_or_yaml(tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text("applications:\n- name: found\n")
    result = parse_manifest(tmp_path)
    assert result.applications[0].name == "found"
    assert result.path == str((tmp_path / "manifest.yaml").resolve())


def test_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a folder without a manifest.yml or manifest.yaml"


def test_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as info:
        parse_manifest(Path("manifest.yml"))
    assert str(info.value) == "manifest.yml: no such file"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_bytes(b"applications:\n- name: caf\xe9\n")
    with pytest.raises(ManifestError) as info:
        parse_manifest(path)
    assert str(info.value) == f"{path}: is not UTF-8 text"


def test_top_level_unknown_key_warns_once_for_all_apps(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text("colour: red\napplications:\n- name: a\n- name: b\n")
    assert parse_manifest(path).warnings == [f"{path}: colour: unknown key, ignored"]


def test_unexpected_failures_still_surface_as_manifest_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*args: object, **kwargs: object) -> AppSpec:
        raise KeyError("boom")

    monkeypatch.setattr(yun.manifest.manifests, "read_application", broken)
    path = tmp_path / "manifest.yml"
    path.write_text("applications:\n- name: a\n")
    with pytest.raises(ManifestError, match=r"could not be read \(KeyError: 'boom'\)"):
        parse_manifest(path)


def _app_needing(server: str | None, client: str | None) -> AppSpec:
    stackato = StackatoSpec(min_version_server=server, min_version_client=client)
    return AppSpec(name="demo", stackato=stackato)


@pytest.mark.parametrize(
    ("server", "client"), [("0.9.0", "1.0"), ("0.9", "1"), ("0.10.0", "1.0.0"), ("1.0.0", "2.1")]
)
def test_min_version_met(server: str, client: str) -> None:
    check_min_version(_app_needing("0.9.0", "1.0"), server_version=server, client_version=client)
    check_min_version(AppSpec(name="plain"), server_version="0.0.1", client_version="0.0.1")


def test_min_version_client_too_old() -> None:
    with pytest.raises(ManifestError) as info:
        check_min_version(
            _app_needing("0.1", "1.2"), server_version="0.1.0", client_version="1.1.9"
        )
    assert str(info.value) == (
        "demo: stackato.min_version.client: needs a client of version 1.2 or newer; "
        "this client is 1.1.9"
    )


def test_min_version_server_too_old() -> None:
    with pytest.raises(ManifestError, match=r"^demo: stackato\.min_version\.server: "):
        check_min_version(_app_needing("0.10", None), server_version="0.9.5", client_version="9")


_KEYS = [
    "name", "memory", "mem", "instances", "command", "buildpack", "buildpacks", "env", "routes",
    "processes", "services", "docker", "stackato", "health-check-type", "timeout", "no-route",
    "random-route", "path", "disk_quota", "type", "route", "image", "hooks", "requirements",
    "autoscale", "min_version", "default", "required", "choices", "web", "pip", "ubuntu",
]  # fmt: skip


def _random_value(rng: random.Random, depth: int) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(
            [None, True, 0, -3, 7, 2.5, "", "web", "256M", "12Q", "a_b", "/x", "((v))", [], {}]
        )
    if roll < 0.6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_arbitrary_input_only_ever_raises_manifest_error() -> None:
    rng = random.Random(20240601)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(3000):
        data = _random_value(rng, 0)
        if isinstance(data, dict) and rng.random() < 0.7:
            data["name"] = "app"
        try:
            spec = parse_application(data, source="fuzz", index=0)
        except ManifestError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("fuzz: ")
            assert "please report this" not in str(exc), "an unexpected exception escaped"
            outcomes["error"] += 1
        else:
            assert AppSpec.from_dict(spec.to_dict()) == spec
            outcomes["ok"] += 1
    assert outcomes["ok"] > 100 and outcomes["error"] > 100, outcomes


def test_a_routes_protocol_is_read_as_cloud_foundry_writes_it_and_rendered_back() -> None:
    spec = parse_application(
        {
            "name": "greeter",
            "routes": [
                {"route": "greeter.example.com", "protocol": "HTTP2"},
                {"route": "web.example.com", "protocol": "http1", "options": {"hsts": True}},
            ],
        },
        source="request",
        index=0,
    )
    assert spec.route_options == {
        "greeter.example.com": {"protocol": "http2"},
        "web.example.com": {"hsts": True, "protocol": "http1"},
    }
    routes = to_manifest(spec)["routes"]
    assert routes[0] == {"route": "greeter.example.com", "protocol": "http2"}
    assert routes[1] == {"route": "web.example.com", "protocol": "http1", "options": {"hsts": True}}


@pytest.mark.parametrize(("protocol", "expected"), [("tcp", "TCP route"), ("h3", "http1, http2")])
def test_a_wrong_route_protocol_names_the_field(protocol: str, expected: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_application(
            {"name": "x", "routes": [{"route": "x.example.com", "protocol": protocol}]},
            source="request",
            index=0,
        )
    assert "routes[0].protocol" in str(info.value) and expected in str(info.value)


def test_a_runtime_is_runc_or_gvisor_and_renders_back() -> None:
    spec = parse_application({"name": "web", "runtime": "gVisor"}, source="manifest.yml", index=0)
    assert spec.runtime == "gvisor"
    assert to_manifest(spec)["runtime"] == "gvisor"
    assert parse_application({"name": "web"}, source="manifest.yml", index=0).runtime is None
    with pytest.raises(ManifestError) as info:
        parse_application({"name": "web", "runtime": "kata"}, source="manifest.yml", index=0)
    assert str(info.value) == (
        'manifest.yml: applications[0].runtime: "kata" is not a runtime; use runc or gvisor'
    )
