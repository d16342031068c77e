from pathlib import Path
from typing import Any

import pytest
from tests.unit.agent.agent_fakes import make_spec

from yun.agent import HealthCheckSpec, InstanceSpec


def test_fingerprint_is_stable() -> None:
    assert make_spec().fingerprint() == make_spec().fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"droplet": Path("/blobs/droplet-2.tgz")},
        {"command": "python3 other.py"},
        {"env": {"GREETING": "bye"}},
        {"env": {"GREETING": "hello", "EXTRA": "1"}},
        {"memory_mb": 512},
        {"disk_mb": 2048},
        {"pre_running": ["./migrate.sh"]},
        {"runtime": "gvisor"},
    ],
)
def test_changes_needing_a_restart_change_the_fingerprint(change: dict[str, Any]) -> None:
    assert make_spec(**change).fingerprint() != make_spec().fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"uris": ("other.apps.localhost",)},
        {"app_name": "renamed"},
        {"space_name": "prod"},
        {"health": HealthCheckSpec(type="http", endpoint="/health")},
    ],
)
def test_changes_applied_live_keep_the_fingerprint(change: dict[str, Any]) -> None:
    assert make_spec(**change).fingerprint() == make_spec().fingerprint()


def test_env_order_does_not_matter() -> None:
    one = make_spec(env={"A": "1", "B": "2"})
    two = make_spec(env={"B": "2", "A": "1"})
    assert one.fingerprint() == two.fingerprint()


def test_round_trips_through_a_dict() -> None:
    spec = make_spec(pre_running=["./migrate.sh"], health=HealthCheckSpec(type="http", timeout=5))
    again = InstanceSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.fingerprint() == spec.fingerprint()


def test_spec_keeps_its_own_copy_of_env() -> None:
    env = {"A": "1"}
    spec = make_spec(env=env)
    env["A"] = "2"
    assert spec.env["A"] == "1"


def test_rejects_unknown_health_check_type() -> None:
    with pytest.raises(ValueError, match="health check type"):
        HealthCheckSpec(type="tcp")


def test_a_runtime_is_runc_or_gvisor_and_round_trips() -> None:
    assert make_spec().runtime == "runc"
    sandboxed = make_spec(runtime="gvisor")
    assert InstanceSpec.from_dict(sandboxed.to_dict()).runtime == "gvisor"
    saved = make_spec().to_dict()
    del saved["runtime"]  # what agents before runtimes saved: runc
    assert InstanceSpec.from_dict(saved).fingerprint() == make_spec().fingerprint()
    with pytest.raises(ValueError, match="runtime must be one of"):
        make_spec(runtime="kata")
