import json
from pathlib import Path

from tests.unit.agent.agent_fakes import make_spec

from yun.agent.env import instance_environment, placement_environment


def test_instance_variables() -> None:
    env = instance_environment(make_spec(index=2, memory_mb=256), instance_guid="guid-1")
    assert env["CF_INSTANCE_INDEX"] == "2"
    assert env["INSTANCE_INDEX"] == "2"
    assert env["CF_INSTANCE_GUID"] == "guid-1"
    assert env["MEMORY_LIMIT"] == "256m"
    assert env["GREETING"] == "hello"
    assert env["LANG"] == "en_US.UTF-8"
    assert "/usr/bin" in env["PATH"].split(":")


def test_vcap_application_has_cloud_foundry_shape() -> None:
    spec = make_spec(index=1, memory_mb=128, disk_mb=512)
    vcap = json.loads(instance_environment(spec, instance_guid="guid-1")["VCAP_APPLICATION"])
    assert vcap["application_id"] == "app-1"
    assert vcap["application_name"] == vcap["name"] == "demo"
    assert vcap["application_uris"] == vcap["uris"] == ["demo.apps.localhost"]
    assert vcap["instance_id"] == "guid-1"
    assert vcap["instance_index"] == 1
    assert vcap["limits"]["mem"] == 128
    assert vcap["limits"]["disk"] == 512
    assert vcap["space_name"] == "dev"
    assert vcap["organization_name"] == "acme"
    assert vcap["process_type"] == "web"
    assert vcap["application_version"] == spec.fingerprint()


def test_app_sets_lang_but_not_platform_variables() -> None:
    spec = make_spec(env={"LANG": "C.UTF-8", "CF_INSTANCE_INDEX": "9", "MEMORY_LIMIT": "1g"})
    env = instance_environment(spec, instance_guid="guid-1")
    assert env["LANG"] == "C.UTF-8"
    assert env["CF_INSTANCE_INDEX"] == "0"
    assert env["MEMORY_LIMIT"] == "256m"


def test_placement_variables() -> None:
    env = placement_environment(
        home=Path("/run/x/app"),
        deps_dir=Path("/run/x/deps"),
        tmpdir=Path("/run/x/tmp"),
        ip="127.0.0.1",
        port=41234,
    )
    assert env["HOME"] == "/run/x/app"
    assert env["DEPS_DIR"] == "/run/x/deps"
    assert env["TMPDIR"] == "/run/x/tmp"
    assert env["PORT"] == env["CF_INSTANCE_PORT"] == "41234"
    assert env["CF_INSTANCE_ADDR"] == "127.0.0.1:41234"
    assert env["CF_INSTANCE_IP"] == "127.0.0.1"


def test_container_placement_reports_the_host_port() -> None:
    env = placement_environment(
        home=Path("/home/vcap/app"),
        deps_dir=Path("/home/vcap/deps"),
        tmpdir=Path("/home/vcap/tmp"),
        ip="10.244.0.5",
        port=8080,
        host_port=61001,
    )
    assert env["PORT"] == "8080"
    assert env["CF_INSTANCE_ADDR"] == "10.244.0.5:61001"
