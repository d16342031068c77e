"""Internal routes → the names the internal DNS answers (`yun.discovery`).

A route on an internal domain (`apps.internal`) names the healthy instances of the processes
mapped to it: RUNNING, not draining, with an address. The route controller hands the result
to the DNS server on each of its passes, so the names follow instances as they come and go.
Instances on a Kubernetes cluster are left out: their pod addresses are the cluster's.
"""

from __future__ import annotations

from sqlalchemy import select

from yun.discovery import Target
from yun.kube import DRIVER as KUBERNETES
from yun.store.models import Domain, Instance, Process, Route, RouteMapping
from yun.store.queries import hostname
from yun.store.session import Store


def internal_names(store: Store) -> tuple[list[str], dict[str, list[Target]]]:
    """(the internal domains, every name under them → the instances it stands for)."""
    with store.snapshot() as session:
        zones = [
            name.lower()
            for name in session.scalars(select(Domain.name).where(Domain.internal.is_(True)))
        ]
        mapped = session.execute(
            select(Route.host, Domain.name, RouteMapping.app_guid, RouteMapping.process_type)
            .join(Domain, Domain.guid == Route.domain_guid)
            .join(RouteMapping, RouteMapping.route_guid == Route.guid)
            .where(Domain.internal.is_(True))
        ).all()
        names: dict[str, list[Target]] = {}
        if not mapped:
            return zones, names
        wanted = {(row.app_guid, row.process_type) for row in mapped}
        processes = {
            row.guid: (row.app_guid, row.type)
            for row in session.execute(
                select(Process.guid, Process.app_guid, Process.type).where(
                    Process.app_guid.in_({app for app, _ in wanted})
                )
            )
            if (row.app_guid, row.type) in wanted
        }
        serving: dict[tuple[str, str], list[Target]] = {}
        for process_guid, index, address, port in session.execute(
            select(Instance.process_guid, Instance.index, Instance.address, Instance.port)
            .where(Instance.process_guid.in_(processes))
            .where(Instance.state == "RUNNING", Instance.draining_since.is_(None))
            .where(Instance.address.is_not(None), Instance.driver != KUBERNETES)
            .order_by(Instance.index)
        ):
            target = Target(address=address or "", port=port or 0, index=index)
            serving.setdefault(processes[process_guid], []).append(target)
    for host, domain, app_guid, process_type in mapped:
        name = hostname(host, domain).lower()
        names.setdefault(name, []).extend(serving.get((app_guid, process_type), []))
    return zones, names
