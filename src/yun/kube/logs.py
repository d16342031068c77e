"""Pod logs into the app's log: one follower per pod of an app's instance, reading its
container's output from the apiserver (which asks the pod's kubelet) as it is written, each line
handed on with the container runtime's timestamp, as APP/PROC/TYPE/INDEX lines like a local
instance's.

A follower that loses its stream (the container restarted after a crash, the apiserver or the
kubelet went away) opens it again from where it was: lines it already handed on are skipped by
their timestamps, so a restart neither repeats nor loses what the kept log files hold.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from yun.kube.client import KubeCluster, KubeError, LogStream

log = logging.getLogger("yun.kube.logs")

RETRY_SECONDS = 2.0

Sink = Callable[[str, int, str, str, str, float], None]
"""(slot, instance index, app guid, source, line, timestamp) — the agent listener's `on_log`."""


@dataclass(frozen=True)
class PodLog:
    """Whose output a pod's container is: the instance it stands for."""

    namespace: str
    pod: str
    container: str
    slot: str
    index: int
    app_guid: str
    source: str  # APP/PROC/WEB/0


class PodLogs:
    def __init__(self, cluster: KubeCluster, sink: Sink) -> None:
        self.cluster = cluster
        self.sink = sink
        self._followers: dict[str, _Follower] = {}  # pod uid -> its follower
        self._lock = threading.Lock()

    def follow(self, pods: Mapping[str, PodLog]) -> list[_Follower]:
        """Follow exactly these pods (by uid): start followers for new ones, stop the rest
        (returned: they end on their own, at once)."""
        stopped = []
        with self._lock:
            for uid in set(self._followers) - set(pods):
                stopped.append(self._followers.pop(uid))
                stopped[-1].stop()
            for uid, pod in pods.items():
                if uid not in self._followers:
                    follower = _Follower(self.cluster, pod, self.sink)
                    self._followers[uid] = follower
                    follower.start()
        return stopped

    def close(self) -> None:
        """Stop every follower and wait for them (briefly: each ends as its stream closes)."""
        deadline = time.monotonic() + 5
        for follower in self.follow({}):
            follower.join(max(0.0, deadline - time.monotonic()))


class _Follower:
    def __init__(self, cluster: KubeCluster, pod: PodLog, sink: Sink) -> None:
        self.cluster = cluster
        self.pod = pod
        self.sink = sink
        self.last = 0.0  # the timestamp of the last line handed on
        self._stopped = threading.Event()
        self._stream: LogStream | None = None
        self._thread = threading.Thread(target=self._run, name=f"kube-logs-{pod.pod}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.close()  # unblocks the read under way

    def _run(self) -> None:
        while not self._stopped.is_set():
            since = math.ceil(time.time() - self.last) + 1 if self.last else None
            try:
                stream = self.cluster.follow_log(
                    self.pod.pod, self.pod.namespace, container=self.pod.container, since=since
                )
                self._stream = stream
                if self._stopped.is_set():  # stopped while it was being opened
                    break
                for raw in stream:
                    self._hand_on(raw)
            except KubeError as exc:
                log.debug("logs of pod %s: %s", self.pod.pod, exc)
            finally:
                if self._stream is not None:
                    self._stream.close()
                    self._stream = None
            self._stopped.wait(RETRY_SECONDS)

    def _hand_on(self, raw: bytes) -> None:
        stamp, _, text = raw.decode("utf-8", errors="replace").rstrip("\n").partition(" ")
        ts = _parse_time(stamp)
        if ts is None:  # not a line the runtime stamped: keep it, with the time it came
            ts, text = time.time(), raw.decode("utf-8", errors="replace").rstrip("\n")
        elif ts <= self.last:
            return  # handed on before the stream was opened again
        self.last = max(self.last, ts)
        pod = self.pod
        self.sink(pod.slot, pod.index, pod.app_guid, pod.source, text, ts)


def _parse_time(stamp: str) -> float | None:
    """An RFC 3339 timestamp with up to nanoseconds (2026-12-06T23:31:02.848859123Z)."""
    if not stamp.endswith("Z") or "T" not in stamp:
        return None
    whole, _, fraction = stamp[:-1].partition(".")
    try:
        moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
        return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)
    except ValueError:
        return None
