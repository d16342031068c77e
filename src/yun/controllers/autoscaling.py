"""The autoscaler: sizes an app's web process to its load, the way Kubernetes and Knative do.

Per app with a policy (`yun autoscale`, or the Stackato `autoscale:` block), once a second:

- a sample of its metric: average CPU per instance (%, of one core), requests per second or
  requests in flight (both for the whole app, from HAProxy's counters), or the 95th percentile
  response time (ms, from the router's access lines);
- two windows over the samples: stable (60 s) and, for request metrics, panic (6 s);
- the Kubernetes HPA rule on the stable window: desired = ceil(current * value / target), left
  alone within a 10 % tolerance;
- Knative's panic mode: when the panic window alone asks for at least twice the instances, the
  app scales up to that at once, and does not scale down until the panic has been over for a
  stable window;
- scaling down waits for the stabilization window (5 min by default): the highest
  recommendation within it wins, so a dip does not shed instances that the next minute needs;
- the policy's min and max bound it all, and the space's and org's quotas (instances, memory)
  the way up: held at a quota, it records an `app.autoscale.quota` event. Stackato's
  `cpu: {min, max}` band maps onto the same rule: above max it scales up with max as target,
  below min it scales down with min as target.

With `min` 0, an app that saw no request for `idle` seconds goes to zero instances; its routes
then lead to the activator (`yun.server.activator`), which holds the first request, starts an
instance and passes the request on once the instance serves.

Every change is an event with its inputs and reason. Time is injected, so the tests run the
windows without waiting for them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.controllers.runtime.managing import Result
from yun.store import events
from yun.store.models import App, Process, Space
from yun.store.quotas import instances_room
from yun.store.releases import active_deployment
from yun.store.session import Store

METRICS = ("cpu", "rps", "concurrency", "p95_ms")
WHOLE_APP = ("cpu", "p95_ms")  # values that are not divided among instances (an average, a p95)
STABLE_WINDOW = 60.0
PANIC_WINDOW = 6.0
PANIC_THRESHOLD = 2.0  # panic when the panic window wants this many times the instances
TOLERANCE = 0.1
SCALE_DOWN_STABILIZATION = 300.0
INTERVAL = 1.0
IDLE = 60.0


@dataclass(frozen=True)
class AutoscalePolicy:
    """What `yun autoscale` stores on an app (`App.autoscale`), or a Stackato block reads as."""

    min: int
    max: int
    metric: str  # one of METRICS
    target: float  # per instance: % CPU, requests/s or requests in flight
    low: float | None = None  # Stackato's cpu.min: below it, scale down with it as target
    stabilization: float = SCALE_DOWN_STABILIZATION
    idle: float = IDLE  # with min 0: seconds without a request before the app goes to zero

    @classmethod
    def of(cls, own: dict[str, Any], spec: dict[str, Any]) -> AutoscalePolicy | None:
        """The app's policy: `yun autoscale`'s (`own`), else an enabled Stackato block in its
        manifest `spec`, else None."""
        if own.get("metric") in METRICS:
            return cls(
                min=int(own["min"]),
                max=int(own["max"]),
                metric=str(own["metric"]),
                target=float(own["target"]),
                stabilization=float(own.get("stabilization", SCALE_DOWN_STABILIZATION)),
                idle=float(own.get("idle", IDLE)),
            )
        block = (spec.get("stackato") or {}).get("autoscale")
        if isinstance(block, dict) and block.get("enabled"):
            instances = block.get("instances") or {}
            cpu = block.get("cpu") or {}
            return cls(
                min=int(instances.get("min", 1)),
                max=int(instances.get("max", max(1, int(instances.get("min", 1))))),
                metric="cpu",
                target=float(cpu.get("max", 80)),
                low=float(cpu["min"]) if "min" in cpu else None,
            )
        return None


@dataclass
class Window:
    """(time, value) samples, averaged over the last `seconds`."""

    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, now: float, value: float) -> None:
        self.samples.append((now, value))
        while self.samples and self.samples[0][0] < now - STABLE_WINDOW - 1:
            self.samples.popleft()

    def average(self, now: float, seconds: float) -> float | None:
        values = [v for t, v in self.samples if t > now - seconds]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Decision:
    desired: int
    reason: str
    panic: bool


@dataclass
class Decider:
    """One app's autoscaling state: its samples, recent recommendations, panic mode."""

    policy: AutoscalePolicy
    window: Window = field(default_factory=Window)
    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    panic_until: float = 0.0
    last_request: float | None = None  # when requests were last seen (for scale to zero)
    last_count: int = -1
    held_at: tuple[int, int] | None = None  # (allowed, wanted) while a quota holds it back

    def saw(self, now: float, *, requests: float | None, instances: int) -> None:
        """Requests seen now (answered or in flight), or an app just woken from zero: the idle
        clock starts again."""
        woken = self.last_count == 0 and instances > 0
        if self.last_request is None or woken or (requests is not None and requests > 0):
            self.last_request = now
        self.last_count = instances

    def decide(self, now: float, current: int) -> Decision | None:
        """The instance count to run now, or None before there is a sample (or at zero:
        the first request wakes the app through the router's activator)."""
        policy = self.policy
        idle_for = now - self.last_request if self.last_request is not None else 0.0
        if policy.min == 0 and current > 0 and idle_for >= policy.idle:
            self.recommendations.clear()
            self.last_count = 0  # so that a wake-up before the next look counts as one
            return Decision(0, f"no request for {idle_for:.0f} s: scaled to zero", False)
        stable = self.window.average(now, STABLE_WINDOW)
        if stable is None or current < 1:
            return None
        per_instance = policy.metric in WHOLE_APP  # not a total to share out
        desired, why = self._rule(current, stable, per_instance=per_instance, window="stable")
        panicking = now < self.panic_until
        if policy.metric not in WHOLE_APP:
            panic = self.window.average(now, PANIC_WINDOW)
            if panic is not None:
                wanted, panic_why = self._rule(current, panic, per_instance=False, window="panic")
                if wanted >= PANIC_THRESHOLD * current:
                    self.panic_until = now + STABLE_WINDOW
                    panicking = True
                if panicking and wanted > desired:
                    desired, why = wanted, panic_why
        if panicking:
            desired = max(desired, current)  # never down while panicking
        self.recommendations.append((now, desired))
        while self.recommendations and self.recommendations[0][0] < now - policy.stabilization:
            self.recommendations.popleft()
        if desired < current:
            held = max(r for _, r in self.recommendations)
            if held > desired:
                desired = min(held, current)
                why += f"; held at {desired} by the {policy.stabilization:g} s stabilization window"
        bounded = max(policy.min, min(policy.max, desired))
        if bounded != desired:
            why += f"; bounded to {policy.min}..{policy.max}"
        return Decision(desired=bounded, reason=why, panic=panicking)

    def _rule(
        self, current: int, value: float, *, per_instance: bool, window: str
    ) -> tuple[int, str]:
        policy = self.policy
        target = policy.target
        per = value if per_instance else value / current
        if policy.low is not None and per < policy.low:
            target = policy.low
        elif policy.low is not None and per <= policy.target:
            return current, f"{policy.metric} {per:.1f} within {policy.low:g}..{target:g}"
        ratio = per / target
        unit = {"cpu": "% CPU", "rps": " req/s", "concurrency": " in flight", "p95_ms": " ms"}[
            policy.metric
        ]
        scope = "" if policy.metric == "p95_ms" else " per instance"
        what = f"{policy.metric} {per:.1f}{unit}{scope} ({window} window), target {target:g}"
        if abs(ratio - 1) <= TOLERANCE:
            return current, f"{what}: within tolerance"
        return max(1, math.ceil(current * ratio)), what


class Metrics(Protocol):
    def sample(self, app_guid: str, process_guid: str) -> dict[str, float]:
        """Current values for an app: {"cpu": %, "rps": requests/s, "concurrency": n}; a
        metric missing from the answer is not known right now."""
        ...


class AutoscaleController:
    prefix = "autoscale"

    def __init__(
        self,
        *,
        store: Store,
        metrics: Metrics,
        wake: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.wake = wake
        self.clock = clock
        self.deciders: dict[str, Decider] = {}

    def _within_quota(
        self, session: Session, app: App, proc: Process, decision: Decision, decider: Decider
    ) -> Decision | None:
        """`decision`, or as many instances as the space's quotas leave room for; stopping at
        a quota is an event (once, until the room or the wish changes), not a failure."""
        room = instances_room(session, app.space_guid, proc.memory_mb)
        if room is None or proc.instances + room >= decision.desired:
            decider.held_at = None
            return decision
        allowed = proc.instances + room
        if decider.held_at != (allowed, decision.desired):
            decider.held_at = (allowed, decision.desired)
            events.record(
                session,
                type="app.autoscale.quota",
                app=app,
                actor="autoscaler",
                data={
                    "wanted": decision.desired,
                    "allowed": allowed,
                    "reason": decision.reason,
                    "message": f"held at {allowed} instance(s) by the space's or org's quota"
                    f" (wanted {decision.desired}: {decision.reason})",
                },
            )
        if allowed == proc.instances:
            return None
        return Decision(allowed, f"{decision.reason}; held at {allowed} by a quota", decision.panic)

    def reconcile(self, key: str) -> Result:
        now = self.clock()
        scaled = False
        watched: set[str] = set()
        with self.store.session() as session:
            for app in session.scalars(select(App).where(App.state == "STARTED")):
                policy = AutoscalePolicy.of(app.autoscale or {}, app.spec or {})
                proc = session.scalar(
                    select(Process).where(Process.app_guid == app.guid, Process.type == "web")
                )
                if policy is None or proc is None:
                    continue
                space = session.get(Space, app.space_guid)
                if space is not None and space.cluster_guid:
                    continue  # on a cluster its HorizontalPodAutoscaler sizes it
                watched.add(app.guid)
                decider = self.deciders.get(app.guid)
                if decider is None or decider.policy != policy:
                    decider = self.deciders[app.guid] = Decider(policy=policy)
                sample = self.metrics.sample(app.guid, proc.guid)
                busy = (sample.get("rps") or 0.0) + (sample.get("concurrency") or 0.0)
                decider.saw(now, requests=busy, instances=proc.instances)
                value = sample.get(policy.metric)
                if value is not None and proc.instances > 0:
                    decider.window.add(now, value)
                if active_deployment(session, app.guid) is not None:
                    continue  # instance counts belong to the deployment meanwhile
                decision = decider.decide(now, proc.instances)
                if decision is None and proc.instances < policy.min:
                    decision = Decision(policy.min, f"below the minimum of {policy.min}", False)
                if decision is not None and decision.desired > proc.instances:
                    decision = self._within_quota(session, app, proc, decision, decider)
                if decision is not None and decision.desired != proc.instances:
                    events.record(
                        session,
                        type="app.autoscale",
                        app=app,
                        actor="autoscaler",
                        data={
                            "from": proc.instances,
                            "to": decision.desired,
                            "reason": decision.reason,
                            "panic": decision.panic,
                            "metric": policy.metric,
                            "target": policy.target,
                        },
                    )
                    proc.instances = decision.desired
                    scaled = True
        for guid in set(self.deciders) - watched:
            del self.deciders[guid]
        if scaled:
            self.wake("instances")
        return Result(requeue_after=INTERVAL) if watched else Result()
