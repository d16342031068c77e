"""The gvisor runtime: the runc driver runs an instance's bundle with gVisor's runsc, so the
app's system calls reach gVisor's kernel, not the host's. The same app under runc, side by
side, tells the two apart."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from tests.integration.agent.agent_world import wait_for
from tests.integration.agent_runc.runc_world import (
    Containers,
    VethNetwork,
    get,
    runc_spec,
    wait_http,
)

from yun.agent.drivers.runc import RuncError

pytestmark = pytest.mark.integration


def test_an_app_under_gvisor_serves_and_sees_gvisors_kernel(
    sandboxes: Containers, droplet: Path
) -> None:
    driver = sandboxes.new_driver(network=VethNetwork())
    sandboxed = sandboxes.start(runc_spec(droplet, runtime="gvisor"), driver=driver)
    assert wait_http(sandboxed, timeout=30).text == f"hello from {sandboxed.run_dir.name}"
    seen = get(sandboxed, "/check").json()
    assert "gvisor" in seen["kernel"]
    assert seen["kernel"] != Path("/proc/version").read_text()
    assert seen["uid"] == 2000
    assert int(seen["cap_eff"], 16) == 0
    assert seen["no_new_privs"] == "1"
    # the bundle's seccomp allow-list holds inside gVisor too
    assert seen["syscalls"] == {"unshare": "EPERM", "mount": "EPERM", "keyctl": "EPERM"}
    assert seen["thread"] == "ran"  # clone3 is left to gVisor's kernel: threads start
    assert seen["writes"]["/home/vcap/app/yun-probe"] == "written"
    assert seen["writes"]["/usr/yun-probe"] != "written"
    assert (sandboxed.run_dir / "app/yun-probe").read_text() == "x"
    assert sandboxed.data["runtime"] == "gvisor"
    assert sandboxes.list_ids(gvisor=True) == [sandboxed.data["container_id"]]
    assert sandboxes.list_ids() == []  # runc knows nothing of it
    memory, _ = driver.usage(sandboxed)
    assert memory is not None and memory > 1024 * 1024  # the sandbox's cgroup, as for runc
    assert driver.listening_ports(sandboxed) == {8080}  # read from gVisor's own stack

    runc = sandboxes.new_driver(network=VethNetwork())
    plain = sandboxes.start(runc_spec(droplet, index=1), driver=runc)
    wait_http(plain)
    assert get(plain, "/check").json()["kernel"] == Path("/proc/version").read_text()


def test_a_gvisor_instance_stops_on_term_and_leaves_nothing(
    sandboxes: Containers, droplet: Path
) -> None:
    driver = sandboxes.new_driver(network=VethNetwork())
    handle = sandboxes.start(runc_spec(droplet, runtime="gvisor"), driver=driver)
    wait_http(handle, timeout=30)
    driver.signal(handle, signal.SIGTERM)
    wait_for(lambda: not driver.alive(handle), timeout=15)
    assert driver.exit_status(handle).reason == "exited with 143 (SIGTERM)"
    driver.stop(handle, grace=0)
    driver.remove(handle)
    assert sandboxes.list_ids(gvisor=True) == []
    assert not handle.run_dir.exists()


def test_a_new_driver_adopts_and_sweeps_gvisor_instances(
    sandboxes: Containers, droplet: Path
) -> None:
    driver = sandboxes.new_driver(network=VethNetwork())
    kept = sandboxes.start(runc_spec(droplet, runtime="gvisor"), driver=driver)
    wait_http(kept, timeout=30)
    later = sandboxes.new_driver(network=driver.network)
    adopted = later.adopt(driver.to_dict(kept))
    assert adopted is not None and adopted.pid == kept.pid
    assert later.alive(adopted)
    assert later.sweep([adopted]) == []
    assert later.sweep([]) == [kept.data["container_id"]]  # nothing accounts for it: removed
    assert sandboxes.list_ids(gvisor=True) == []
    assert not later.alive(adopted)


def test_without_runsc_a_gvisor_instance_fails_to_start_saying_how_to_build_it(
    containers: Containers, droplet: Path
) -> None:
    driver = containers.new_driver(network=VethNetwork())
    assert driver.runsc_binary is None
    with pytest.raises(RuncError, match="make runsc"):
        containers.start(runc_spec(droplet, runtime="gvisor"), driver=driver)
    assert containers.list_ids() == []


def test_a_gvisor_instance_needs_a_network_of_its_own(sandboxes: Containers, droplet: Path) -> None:
    with pytest.raises(RuncError, match="needs container networking"):
        sandboxes.start(runc_spec(droplet, runtime="gvisor"))
    assert sandboxes.list_ids(gvisor=True) == []
