"""A platform in miniature for the deployment tests: a real store, the instance, route and
deployment controllers, and a fake agent and router that obey them one pass at a time.

Each `tick` advances an injected clock by one second and runs one pass of everything: the
instance controller hands the agent its desired set; the agent starts what is new (RUNNING one
tick later, or CRASHED when told) and stops what is gone; the route controller gives the router
the servers; the deployment controller moves its counts. `serving()` is what the router sends
traffic to after the pass: what a user's requests would reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yun.agent import InstanceReport, InstanceState
from yun.blobstore import BlobStore
from yun.controllers.deploying import DeploymentController
from yun.controllers.routing import RouteController
from yun.controllers.scheduling import InstanceController, InstanceReporter
from yun.logstore import LogStore
from yun.settings import Settings, Timing
from yun.slots import parse_slot
from yun.store.bootstrap import Defaults, bootstrap
from yun.store.models import App, Droplet, Process, Route, RouteMapping
from yun.store.releases import Plan, create_revision, release
from yun.store.session import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeAgent:
    reporter: InstanceReporter
    clock: Clock
    crash_versions: set[int] = field(default_factory=set)
    slots: dict[str, str] = field(default_factory=dict)  # slot -> state
    specs: dict[str, Any] = field(default_factory=dict)
    port = 20000

    def set_desired(self, specs: list[Any]) -> None:
        self.specs = {spec.slot: spec for spec in specs}

    def desired_specs(self) -> dict[str, Any]:
        return dict(self.specs)

    def run_once(self) -> None:
        for slot in list(self.slots):
            if slot not in self.specs:
                del self.slots[slot]
                self._report(slot, InstanceState.DOWN)
        for slot in self.specs:
            state = self.slots.get(slot)
            _, version, _ = parse_slot(slot)
            if state is None:
                self.slots[slot] = "STARTING"
                self._report(slot, InstanceState.STARTING)
            elif state == "STARTING":
                crashed = version in self.crash_versions
                self.slots[slot] = "CRASHED" if crashed else "RUNNING"
                self._report(slot, InstanceState.CRASHED if crashed else InstanceState.RUNNING)

    def _report(self, slot: str, state: InstanceState) -> None:
        FakeAgent.port += 1
        self.reporter.on_state(
            InstanceReport(
                slot=slot,
                instance_guid=f"guid-{slot}",
                state=state,
                address="127.0.0.1" if state == InstanceState.RUNNING else None,
                port=FakeAgent.port if state == InstanceState.RUNNING else None,
                pid=None,
                since=self.clock(),
                crash_count=0,
                exit_code=None,
                reason="exited" if state == InstanceState.CRASHED else None,
                fingerprint="",
            )
        )


class FakeRouter:
    def __init__(self) -> None:
        self.routes: list[Any] = []

    def apply(self, routes: list[Any], *, reload: bool = True) -> bool:
        self.routes = list(routes)
        return True


class World:
    def __init__(self, tmp_path: Path, *, drain: float = 2.0) -> None:
        settings = Settings(home=tmp_path, timing=Timing(drain=drain))
        self.store = Store(settings.db_url)
        self.store.migrate()
        self.defaults: Defaults = bootstrap(
            self.store, home=tmp_path, domain="apps.localhost", admin_password="pw"
        )
        self.clock = Clock()
        reporter = InstanceReporter(
            store=self.store, logs=LogStore(tmp_path / "logs"), wake=lambda key: None
        )
        self.agent = FakeAgent(reporter=reporter, clock=self.clock)
        self.router = FakeRouter()
        self.instances = InstanceController(
            store=self.store,
            blobs=BlobStore(tmp_path / "blobs"),
            settings=settings,
            agent=self.agent,
            clock=self.clock,
        )
        self.routes = RouteController(store=self.store, haproxy=self.router)
        self.responses: dict[str, tuple[int, int]] = {}
        self.deployments = DeploymentController(
            store=self.store,
            wake=lambda key: None,
            responses=lambda: self.responses,
            clock=self.clock,
        )
        self.app_guid = ""

    def close(self) -> None:
        self.store.close()

    def tick(self) -> None:
        self.clock.now += 1.0
        self.instances.reconcile("instances")
        self.agent.run_once()
        self.routes.reconcile("routes")
        self.deployments.reconcile("deployments")

    def serving(self) -> list[str]:
        """`version-index` of every server the router sends traffic to."""
        return sorted(s.name.split("-", 1)[1] for r in self.router.routes for s in r.servers)

    def weights(self) -> dict[str, int]:
        """`version-index` → HAProxy weight of every server."""
        return {s.name.split("-", 1)[1]: s.weight for r in self.router.routes for s in r.servers}

    def share(self, version: int) -> float:
        """The fraction of requests HAProxy's weighted round-robin sends to `version`."""
        weights = self.weights()
        total = sum(weights.values())
        mine = sum(w for name, w in weights.items() if name.startswith(f"{version}-"))
        return mine / total if total else 0.0

    def push(self, *, instances: int, name: str = "web") -> None:
        """An app with a route and one running revision (v1)."""
        with self.store.session() as session:
            app = App(name=name, space_guid=self.defaults.space_guid, state="STARTED", spec={})
            session.add(app)
            session.flush()
            session.add(Process(app_guid=app.guid, type="web", instances=instances))
            route = Route(
                host=name, domain_guid=self.defaults.domain_guid, space_guid=app.space_guid
            )
            session.add(route)
            session.flush()
            session.add(RouteMapping(route_guid=route.guid, app_guid=app.guid))
            self.app_guid = app.guid
        self.deploy()
        for _ in range(3):
            self.tick()

    def deploy(self, *, plan: Plan | None = None, max_in_flight: int = 1, **env: str) -> int:
        """A new droplet for the app, released as a push would; returns its version."""
        with self.store.session() as session:
            app = session.get(App, self.app_guid)
            assert app is not None
            app.env = {**app.env, **env}
            plan = plan or Plan(max_in_flight=max_in_flight)
            droplet = Droplet(
                app_guid=app.guid, build_guid="b", blob="a" * 64, process_types={"web": "run"}
            )
            session.add(droplet)
            session.flush()
            app.droplet_guid = droplet.guid
            revision = create_revision(
                session,
                app=app,
                droplet_guid=droplet.guid,
                commands={"web": "run"},
                description="new droplet",
                actor="test",
            )
            release(session, app=app, revision=revision, actor="test", plan=plan)
            return revision.version

    def deployment(self) -> dict[str, Any]:
        from yun.store.models import Deployment

        with self.store.session() as session:
            row = session.scalars(select(Deployment).order_by(Deployment.created_at.desc())).first()
            assert row is not None
            return {
                "state": row.state,
                "progress": row.progress,
                "history": row.history,
                "weight": row.weight,
                "reason": row.reason,
            }

    def current_version(self) -> int:
        from yun.store.models import Revision

        with self.store.session() as session:
            app = session.get(App, self.app_guid)
            assert app is not None
            revision = session.get(Revision, app.revision_guid)
            assert revision is not None
            return revision.version
