"""Network policies become allows between apps, each app its instances' addresses on the
bridge (not stopped or crashed, placed by the runc driver); app bindings let those instances
reach the ports their credentials name; all told on every route pass."""

from __future__ import annotations

from pathlib import Path

from tests.unit.controllers.test_discovery import FakeHAProxy

from yun.agent.network.policies import Allow, PolicyTable
from yun.controllers.network_policies import PolicyReader, credential_ports
from yun.controllers.routing import RouteController
from yun.egress import DEFAULT_GROUPS, parse_rules
from yun.store.bootstrap import bootstrap
from yun.store.models import (
    App,
    Instance,
    NetworkPolicy,
    Process,
    SecurityGroup,
    SecurityGroupSpace,
    ServiceBinding,
    ServiceInstance,
)
from yun.store.session import Store


def make_world(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="x")
    guids: dict[str, str] = {}
    with store.session() as session:
        for name, instances in (
            ("front", [("RUNNING", "10.244.0.2", "runc"), ("STARTING", "10.244.0.3", "runc")]),
            ("back", [("RUNNING", "10.244.0.9", "runc"), ("CRASHED", "10.244.0.8", "runc")]),
            ("local", [("RUNNING", "127.0.0.1", "process")]),
            ("lonely", [("RUNNING", "10.244.0.20", "runc")]),
        ):
            app = App(name=name, space_guid=defaults.space_guid, state="STARTED", spec={})
            session.add(app)
            session.flush()
            web = Process(app_guid=app.guid, type="web", instances=len(instances))
            session.add(web)
            session.flush()
            for index, (state, address, driver) in enumerate(instances):
                session.add(
                    Instance(
                        process_guid=web.guid,
                        app_guid=app.guid,
                        index=index,
                        state=state,
                        address=address,
                        port=8080,
                        driver=driver,
                    )
                )
            guids[name] = app.guid
    return store, guids


def test_policies_name_their_apps_instances_on_the_bridge(tmp_path: Path) -> None:
    store, apps = make_world(tmp_path)
    reader = PolicyReader(store)
    nothing = reader.read()  # no policy, no binding
    assert (dict(nothing.members), list(nothing.allows), list(nothing.bound)) == ({}, [], [])
    with store.session() as session:
        session.add_all(
            [
                NetworkPolicy(
                    source_app_guid=apps["front"],
                    destination_app_guid=apps["back"],
                    protocol="tcp",
                    start_port=8080,
                    end_port=8080,
                ),
                NetworkPolicy(
                    source_app_guid=apps["local"],
                    destination_app_guid=apps["back"],
                    protocol="udp",
                    start_port=9000,
                    end_port=9100,
                ),
            ]
        )
    wanted = reader.read()
    assert sorted(wanted.allows) == sorted(
        [
            Allow(apps["front"], apps["back"], "tcp", 8080, 8080),
            Allow(apps["local"], apps["back"], "udp", 9000, 9100),
        ]
    )
    members = dict(wanted.members)
    assert sorted(members[apps["front"]]) == ["10.244.0.2", "10.244.0.3"]
    assert members[apps["back"]] == ["10.244.0.9"]  # the crashed one is gone
    assert apps["local"] not in members and apps["lonely"] not in members

    told: list[PolicyTable] = []
    controller = RouteController(store=store, haproxy=FakeHAProxy(), policies=told.append)
    controller.reconcile("routes")
    assert told and sorted(told[-1].allows) == sorted(wanted.allows)


def test_bound_apps_instances_reach_their_services_ports(tmp_path: Path) -> None:
    store, apps = make_world(tmp_path)
    with store.session() as session:
        space_guid = session.get(App, apps["front"]).space_guid  # type: ignore[union-attr]
        cache = ServiceInstance(name="cache", space_guid=space_guid, kind="managed")
        session.add(cache)
        session.flush()
        binding = ServiceBinding(
            service_instance_guid=cache.guid,
            app_guid=apps["front"],
            name="front",
            credentials={"host": "10.244.0.1", "port": 41002, "uri": "redis://:x@10.244.0.1:41002"},
        )
        key = ServiceBinding(
            service_instance_guid=cache.guid,
            type="key",
            name="mine",
            credentials={"port": 41003},
        )
        session.add_all([binding, key])
    reader = PolicyReader(store)
    wanted = reader.read()
    assert sorted(wanted.bound) == [("10.244.0.2", 41002), ("10.244.0.3", 41002)]
    assert wanted.members == {}  # no policy names them: no sets
    with store.session() as session:
        row = session.get(ServiceBinding, binding.guid)
        assert row is not None
        row.credentials = {"port": "41004"}
    assert sorted(reader.read().bound) == [("10.244.0.2", 41004), ("10.244.0.3", 41004)]
    with store.session() as session:
        session.delete(session.get(ServiceBinding, binding.guid))
    assert list(reader.read().bound) == []


def test_the_ports_credentials_name() -> None:
    assert credential_ports({"port": 5432, "uri": "postgresql://u:p@h:6432/db"}) == {5432, 6432}
    assert credential_ports({"port": "6379"}) == {6379}
    assert credential_ports({"url": "https://example.com/x"}) == set()
    assert credential_ports({"uri": "redis://h:99999", "port": "x"}) == set()


def test_each_space_is_held_to_its_security_groups(tmp_path: Path) -> None:
    store, _apps = make_world(tmp_path)
    reader = PolicyReader(store)
    defaults = [rule for rules in DEFAULT_GROUPS.values() for rule in parse_rules(rules)]
    wanted = reader.read()
    ((space, addresses),) = wanted.spaces.items()  # the process driver's instance is not here
    assert sorted(addresses) == ["10.244.0.2", "10.244.0.20", "10.244.0.3", "10.244.0.9"]
    assert sorted(map(repr, wanted.egress[space])) == sorted(map(repr, defaults))
    with store.session() as session:
        ldap = SecurityGroup(
            name="ldap", rules=[{"protocol": "tcp", "destination": "10.1.2.3", "ports": "636"}]
        )
        session.add(ldap)
        session.flush()
        session.add(SecurityGroupSpace(security_group_guid=ldap.guid, space_guid=space))
        for group in session.query(SecurityGroup).filter(SecurityGroup.name == "dns"):
            group.running_default = False
    egress = reader.read().egress[space]
    assert [r.destinations for r in egress if r.protocol == "tcp"] == [("10.1.2.3",)]
    assert not any(r.ports == ((53, 53),) for r in egress)
