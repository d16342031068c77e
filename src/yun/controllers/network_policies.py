"""Network policies and service bindings → what the bridge's firewall allows
(`agent.network.policies`).

Each policy becomes an `Allow` between two apps, and each app it names one set of its
instances' addresses on the bridge: every instance the runc driver placed that has an address
and is not stopped or crashed (one still starting must be reachable once it listens). Each app
binding lets the app's instances reach the ports its credentials name (`port`, or the port of
`uri`/`url`), where the built-in services' servers listen. The route controller hands the
result to the network on each of its passes, so the sets follow instances as they come and go.
Every such instance is also held to the security groups of its app's space (those bound to it
and the running defaults) for connections leaving the bridge.

Credentials are sealed in the store: a binding's ports are read once per version of the row
(its `updated_at`) and remembered, so a pass decrypts nothing that did not change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from yun.agent.network.policies import Allow, PolicyTable
from yun.egress import EgressRule, parse_rules
from yun.store.models import (
    App,
    Instance,
    NetworkPolicy,
    Process,
    SecurityGroup,
    SecurityGroupSpace,
    ServiceBinding,
)
from yun.store.session import Store

log = logging.getLogger(__name__)
CONTAINER_DRIVER = "runc"  # instances with an address of their own on the bridge
GONE = ("STOPPED", "CRASHED", "DOWN")


def credential_ports(credentials: Mapping[str, Any]) -> set[int]:
    """The ports a binding's credentials name: `port`, and those of `uri` and `url`."""
    ports: set[int] = set()
    port = credentials.get("port")
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        ports.add(int(port))
    for key in ("uri", "url"):
        value = credentials.get(key)
        if isinstance(value, str):
            try:
                found = urlsplit(value).port
            except ValueError:  # not a URL with a valid port
                found = None
            if found:
                ports.add(found)
    return {p for p in ports if 1 <= p <= 65535}


def _rules(name: str, data: Any) -> list[EgressRule]:
    try:
        return parse_rules(data)
    except ValueError as exc:  # checked by the API; a row changed behind it is left out
        log.error("security group %s is left out: %s", name, exc)
        return []


class PolicyReader:
    """Reads the wanted `PolicyTable` from the store; one per route controller."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ports: dict[str, tuple[float, frozenset[int]]] = {}  # binding → (version, ports)

    def read(self) -> PolicyTable:
        with self.store.snapshot() as session:
            allows = [
                Allow(*row)
                for row in session.execute(
                    select(
                        NetworkPolicy.source_app_guid,
                        NetworkPolicy.destination_app_guid,
                        NetworkPolicy.protocol,
                        NetworkPolicy.start_port,
                        NetworkPolicy.end_port,
                    )
                )
            ]
            bindings = session.execute(
                select(ServiceBinding.guid, ServiceBinding.updated_at, ServiceBinding.app_guid)
                .where(ServiceBinding.type == "app")
                .where(ServiceBinding.app_guid.is_not(None))
            ).all()
            apps = {a.source for a in allows} | {a.destination for a in allows}
            apps |= {row.app_guid for row in bindings if row.app_guid}
            members = self._members(session, apps) if apps else {}
            stale = [row.guid for row in bindings if self._stale(row.guid, row.updated_at)]
            if stale:
                fresh = session.execute(
                    select(
                        ServiceBinding.guid, ServiceBinding.updated_at, ServiceBinding.credentials
                    ).where(ServiceBinding.guid.in_(stale))
                )
                for guid, updated_at, credentials in fresh:
                    ports = frozenset(credential_ports(credentials or {}))
                    self._ports[guid] = (updated_at, ports)
        live = {row.guid for row in bindings}
        for guid in [g for g in self._ports if g not in live]:
            del self._ports[guid]
        bound = {
            (address, port)
            for row in bindings
            for address in members.get(row.app_guid or "", ())
            for port in self._ports.get(row.guid, (0.0, frozenset()))[1]
        }
        policy_apps = {a.source for a in allows} | {a.destination for a in allows}
        spaces, egress = self._egress()
        return PolicyTable(
            members={app: addresses for app, addresses in members.items() if app in policy_apps},
            allows=allows,
            bound=sorted(bound),
            spaces=spaces,
            egress=egress,
        )

    def _egress(self) -> tuple[dict[str, list[str]], dict[str, list[EgressRule]]]:
        """(space → its running instances' addresses, space → its security groups' rules)."""
        with self.store.snapshot() as session:
            spaces: dict[str, list[str]] = {}
            for space_guid, address in session.execute(
                select(App.space_guid, Instance.address)
                .join(Process, Process.guid == Instance.process_guid)
                .join(App, App.guid == Process.app_guid)
                .where(Instance.driver == CONTAINER_DRIVER, Instance.address.is_not(None))
                .where(Instance.state.not_in(GONE))
            ):
                spaces.setdefault(space_guid, []).append(address or "")
            if not spaces:
                return {}, {}
            groups = {
                row.guid: (row.name, row.rules, row.running_default)
                for row in session.execute(
                    select(
                        SecurityGroup.guid,
                        SecurityGroup.name,
                        SecurityGroup.rules,
                        SecurityGroup.running_default,
                    )
                )
            }
            bound = session.execute(
                select(SecurityGroupSpace.space_guid, SecurityGroupSpace.security_group_guid).where(
                    SecurityGroupSpace.space_guid.in_(spaces)
                )
            ).all()
        rules = {guid: _rules(name, data) for guid, (name, data, _) in groups.items()}
        everywhere = [r for guid, (_, _, on) in groups.items() if on for r in rules[guid]]
        egress = {space: list(everywhere) for space in spaces}
        for space_guid, group_guid in bound:
            egress[space_guid] += rules.get(group_guid, [])
        return spaces, egress

    def _stale(self, guid: str, updated_at: float) -> bool:
        known = self._ports.get(guid)
        return known is None or known[0] != updated_at

    @staticmethod
    def _members(session: Any, apps: Iterable[str]) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for app_guid, address in session.execute(
            select(Process.app_guid, Instance.address)
            .join(Process, Process.guid == Instance.process_guid)
            .where(Process.app_guid.in_(set(apps)))
            .where(Instance.driver == CONTAINER_DRIVER, Instance.address.is_not(None))
            .where(Instance.state.not_in(GONE))
        ):
            members.setdefault(app_guid, []).append(address or "")
        return members
