"""Extra TCP ports of an instance (Stackato's harbor): how the app learns them, what restarts
it, and that drivers hand out, report and keep track of them."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from tests.unit.agent.agent_fakes import (
    FakeClock,
    FakeDriver,
    Recorder,
    make_spec,
    report,
    settle_in,
)

from yun.agent import Agent, Handle, InstanceSpec, InstanceState, ProcessDriver
from yun.agent.drivers.base import handle_from_dict, handle_to_dict
from yun.agent.drivers.runc_network import container_ports
from yun.agent.env import instance_environment
from yun.builder.launcher import launcher_path
from yun.harbor import harbor_environment, harbor_variable
from yun.settings import Timing

# make_spec()'s fingerprint before instances had extra ports: an upgrade must not restart them.
FINGERPRINT_WITHOUT_PORTS = "6f9799ef0920c4206ae120ab"


def test_a_route_name_becomes_an_upper_case_variable() -> None:
    assert harbor_variable("tcp") == "STACKATO_HARBOR_TCP"
    assert harbor_variable("my-db.v2") == "STACKATO_HARBOR_MY_DB_V2"
    assert harbor_variable("café") == "STACKATO_HARBOR_CAF_"


def test_one_route_sets_both_variables() -> None:
    assert harbor_environment({"my-port": 40123}) == {
        "STACKATO_HARBOR": "40123",
        "STACKATO_HARBOR_MY_PORT": "40123",
    }


def test_several_routes_set_only_the_named_variables() -> None:
    env = harbor_environment({"db": 40001, "admin": 40002})
    assert env == {"STACKATO_HARBOR_DB": "40001", "STACKATO_HARBOR_ADMIN": "40002"}
    assert harbor_environment({}) == {}


def test_fingerprint_without_ports_is_what_it_always_was() -> None:
    assert make_spec().fingerprint() == FINGERPRINT_WITHOUT_PORTS
    assert make_spec(ports=()).fingerprint() == FINGERPRINT_WITHOUT_PORTS


def test_ports_change_the_fingerprint() -> None:
    one = make_spec(ports=["tcp"])
    assert one.fingerprint() != FINGERPRINT_WITHOUT_PORTS
    assert make_spec(ports=["tcp", "admin"]).fingerprint() != one.fingerprint()


def test_port_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        make_spec(ports=["tcp", "tcp"])


def test_ports_round_trip_and_old_records_still_load() -> None:
    spec = make_spec(ports=["tcp", "admin"])
    assert InstanceSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    old = spec.to_dict()
    del old["ports"]
    assert InstanceSpec.from_dict(old).ports == ()


def test_handles_remember_ports_and_old_records_still_load(tmp_path: Path) -> None:
    handle = Handle(
        run_dir=tmp_path, pid=7, address="127.0.0.1", port=5000, logs={}, ports={"tcp": 5001}
    )
    saved = json.loads(json.dumps(handle_to_dict(handle)))
    assert handle_from_dict(saved) == handle
    del saved["ports"]
    assert handle_from_dict(saved).ports == {}


def test_containers_of_their_own_use_fixed_ports_in_name_order() -> None:
    assert container_ports(["db", "admin"], port=8080) == {"db": 9000, "admin": 9001}
    assert container_ports(["db", "admin"], port=9000) == {"db": 9001, "admin": 9002}
    assert container_ports([], port=8080) == {}


class PortsDriver(FakeDriver):
    """The fake driver, giving each name of `spec.ports` a port as a real driver would."""

    def _start(self, spec: InstanceSpec, *, run_dir: Path, env: Mapping[str, str]) -> Handle:
        handle = super()._start(spec, run_dir=run_dir, env=env)
        ports = {name: 45000 + number for number, name in enumerate(spec.ports)}
        return replace(handle, ports=ports)


def test_reports_carry_the_instance_ports(tmp_path: Path) -> None:
    driver = PortsDriver()
    agent = Agent(
        root=tmp_path, driver=driver, listener=Recorder(), timing=Timing(), clock=FakeClock()
    )
    try:
        agent.set_desired([make_spec(ports=["db", "admin"])])
        settle_in(agent, InstanceState.RUNNING)
        assert report(agent).ports == {"db": 45000, "admin": 45001}
    finally:
        agent.stop(stop_instances=True)
        driver.close()


# -- the process driver, for real --------------------------------------------------------------

APP = """
import json, os, time
names = [k for k in os.environ if k.startswith("STACKATO_HARBOR") or k == "PORT"]
with open("env.json", "w") as f:
    json.dump({k: os.environ[k] for k in names}, f)
time.sleep(60)
"""


@pytest.fixture
def process_driver(tmp_path: Path) -> Iterator[tuple[ProcessDriver, list[Handle]]]:
    driver, started = ProcessDriver(launcher_path()), []
    yield driver, started
    for handle in started:
        driver.stop(handle, grace=1.0)
        driver.remove(handle)


def _droplet(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        data = APP.encode()
        info = tarfile.TarInfo("app/app.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def _start(
    driver: ProcessDriver, started: list[Handle], tmp_path: Path, ports: list[str]
) -> tuple[Handle, dict[str, str]]:
    spec = make_spec(droplet=_droplet(tmp_path / "droplet.tgz"), command="python3 app.py")
    spec = replace(spec, ports=tuple(ports))
    run_dir = tmp_path / f"run-{len(started)}"
    handle = driver.start(spec, run_dir=run_dir, env=instance_environment(spec, instance_guid="g"))
    started.append(handle)
    written = run_dir / "app" / "env.json"
    deadline = time.monotonic() + 15
    while not written.exists() or not written.read_text():
        assert time.monotonic() < deadline, "the app never wrote its environment"
        time.sleep(0.05)
    return handle, json.loads(written.read_text())


def test_process_instances_get_a_free_port_per_name(
    process_driver: tuple[ProcessDriver, list[Handle]], tmp_path: Path
) -> None:
    driver, started = process_driver
    handle, env = _start(driver, started, tmp_path, ["db", "admin"])
    assert set(handle.ports) == {"db", "admin"}
    assert env["STACKATO_HARBOR_DB"] == str(handle.ports["db"])
    assert env["STACKATO_HARBOR_ADMIN"] == str(handle.ports["admin"])
    assert "STACKATO_HARBOR" not in env  # which one would it be?
    assert len({env["PORT"], *map(str, handle.ports.values())}) == 3

    single, env = _start(driver, started, tmp_path, ["tcp"])
    assert env["STACKATO_HARBOR"] == env["STACKATO_HARBOR_TCP"] == str(single.ports["tcp"])
    assert single.ports["tcp"] not in handle.ports.values()


def test_an_adopting_driver_knows_the_ports(
    process_driver: tuple[ProcessDriver, list[Handle]], tmp_path: Path
) -> None:
    driver, started = process_driver
    handle, _ = _start(driver, started, tmp_path, ["tcp"])
    later = ProcessDriver(launcher_path())
    adopted = later.adopt(json.loads(json.dumps(later.to_dict(handle))))
    assert adopted is not None and adopted.ports == handle.ports
