"""`yun clusters` says whether each cluster answers: not asked yet, answers, or how long it has
not answered and why."""

from __future__ import annotations

import time

from yun.cli.apps import _routes, _runtime
from yun.cli.clusters import _reach


def test_the_reach_column() -> None:
    assert _reach({"reachable": None}) == "-"
    assert _reach({"reachable": True, "reach_reason": "", "reach_since": time.time()}) == "answers"
    gone = {
        "reachable": False,
        "reach_reason": "the cluster does not answer: connection refused",
        "reach_since": time.time() - 300,
    }
    assert _reach(gone) == "no answer for 5m00s: the cluster does not answer: connection refused"


def test_an_app_on_a_cluster_shows_its_routes_without_the_routers_port() -> None:
    here = {"routes": ["shop.apps.example/api"], "cluster": None}
    there = {"routes": ["shop.apps.example"], "cluster": "prod"}
    assert _routes(here, 8080) == "http://shop.apps.example:8080/api"
    assert _routes(there, 8080) == "http://shop.apps.example/ (served by cluster prod)"
    assert _routes({"routes": [], "cluster": "prod"}, 8080) == ""


def test_yun_app_shows_the_runtime_and_what_a_restart_changes() -> None:
    def app(runtime: str, wanted: str, driver: str = "runc") -> dict[str, object]:
        instances = [{"driver": driver}]
        processes = [{"type": "web", "instance_details": instances}]
        return {"name": "shop", "runtime": runtime, "runtime_next": wanted, "processes": processes}

    assert _runtime(app("gvisor", "gvisor")) == "gvisor"
    assert _runtime(app("runc", "gvisor")) == (
        "runc (gvisor from the next restart: yun restart shop)"
    )
    assert _runtime(app("runc", "runc", driver="process")) == ""  # host processes: none
