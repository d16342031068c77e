"""The models are the package's contract with the API and store: JSON in, JSON out, immutable."""

from __future__ import annotations

import dataclasses
import json

import pytest

from yun.manifest import (
    AppSpec,
    HealthCheck,
    Manifest,
    ManifestError,
    ProcessSpec,
    StackatoEnvVar,
    StackatoSpec,
    parse_application,
    to_manifest,
)

FULL_APP = AppSpec(
    name="demo",
    path="/srv/demo",
    memory_mb=128,
    disk_mb=1024,
    instances=2,
    command="python app.py",
    buildpacks=["python_buildpack"],
    env={"A": "1"},
    health_check=HealthCheck(type="http", endpoint="/health", timeout=30, invocation_timeout=2),
    timeout=30,
    routes=["demo.apps.localhost/api", "demo.example.com"],
    route_options={"demo.example.com": {"loadbalancing": "least-connection", "timeout": 5.0}},
    random_route=True,
    no_route=False,
    processes=[
        ProcessSpec(type="worker", command="celery worker", instances=1, memory_mb=512),
        ProcessSpec(
            type="web",
            command=None,
            instances=None,
            memory_mb=None,
            disk_mb=None,
            health_check=HealthCheck(),
        ),
    ],
    services=["db"],
    docker_image=None,
    docker_username=None,
    stackato=StackatoSpec(
        env={"MODE": StackatoEnvVar(default="safe", required=True, choices=["safe", "fast"])},
        pre_staging=["echo a"],
        post_staging=["echo b"],
        pre_running=["./migrate.sh"],
        pip=["celery"],
        ubuntu=["libpq-dev"],
        autoscale={"enabled": True, "instances": {"min": 1, "max": 4}},
        min_version_server="0.9.0",
        min_version_client="1.0",
    ),
    stack="host",
)


def test_full_app_round_trips_through_json() -> None:
    text = json.dumps(FULL_APP.to_dict())
    assert AppSpec.from_dict(json.loads(text)) == FULL_APP


def test_minimal_app_round_trips_and_keeps_unset_fields_none() -> None:
    app = AppSpec(name="tiny")
    data = app.to_dict()
    assert data["memory_mb"] is None and data["instances"] is None and data["stackato"] is None
    assert AppSpec.from_dict(data) == app


def test_manifest_round_trips() -> None:
    manifest = Manifest(path="/x/manifest.yml", applications=[FULL_APP], warnings=["w"])
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest


def test_health_check_reads_old_none_as_process_and_rejects_unknown_types() -> None:
    assert HealthCheck.from_dict({"type": "none"}).type == "process"
    with pytest.raises(ValueError, match="unknown health check type 'tcp'"):
        HealthCheck.from_dict({"type": "tcp"})


def test_models_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL_APP.name = "other"  # type: ignore[misc]


def test_to_dict_is_a_copy() -> None:
    data = FULL_APP.to_dict()
    data["env"]["A"] = "changed"
    assert FULL_APP.env == {"A": "1"}


def test_to_manifest_output_parses_back_to_the_same_app() -> None:
    # As parsing leaves it: declared Stackato defaults are already merged into env.
    spec = dataclasses.replace(
        FULL_APP, path=None, random_route=False, env={"A": "1", "MODE": "safe"}
    )
    data = to_manifest(spec)
    assert data["memory"] == "128M"
    assert data["routes"] == [
        {"route": "demo.apps.localhost/api"},
        {
            "route": "demo.example.com",
            "options": {"loadbalancing": "least-connection", "timeout": 5.0},
        },
    ]
    assert parse_application(json.loads(json.dumps(data)), source="request", index=0) == spec


def test_to_manifest_rejects_a_spec_changed_into_something_invalid() -> None:
    spec = dataclasses.replace(FULL_APP, name="my_app")
    with pytest.raises(ManifestError, match=r'^my_app: name: "my_app" contains an underscore'):
        to_manifest(spec)


def test_to_manifest_of_an_old_none_health_check_type() -> None:
    spec = AppSpec(name="web", health_check=HealthCheck(type="none"))  # type: ignore[arg-type]
    parsed = parse_application(to_manifest(spec), source="request", index=0)
    assert parsed.health_check == HealthCheck(type="process")
