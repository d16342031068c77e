"""API latency with many teams: `yun apps` and `yun app` as HTTP calls to a real `yun server`.

A server with its own home and ports; one app in the default space is measured first, then
50 spaces (in 5 orgs) get 10 apps each (500 apps; pushed as records, not staged) and the same
calls are measured again: `GET /v3/apps?space_guid=…` (the list `yun apps` shows for a space of
10 apps) and `GET /v3/apps/GUID` (what `yun app` reads), each `--calls` times over one kept-alive
connection, with the access policy and the audit middleware on: as the admin, and at 500 apps
also as a user whose SpaceDeveloper roles in the ten spaces of one org the policy reads for
every call. p50 and p99 in milliseconds. Target: p99 ≤ 50 ms at 500 apps.

    .venv/bin/python bench/api.py --calls 300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serving import percentiles, running_server, server_env


def timed(
    api: httpx.Client, path: str, calls: int, params: dict[str, str] | None = None
) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        answer = api.get(path, params=params)
        samples.append(time.perf_counter() - start)
        answer.raise_for_status()
    return samples


def push(api: httpx.Client, name: str, space_guid: str | None = None) -> str:
    body: dict[str, object] = {"application": {"name": name, "memory": "64M"}}
    if space_guid:
        body["space_guid"] = space_guid
    answer = api.post("/v3/apps/push", json=body)
    answer.raise_for_status()
    return str(answer.json()["guid"])


def measure(api: httpx.Client, space: str, app: str, calls: int) -> dict[str, tuple[float, float]]:
    timed(api, "/v3/apps", 20, {"space_guid": space})  # warm up
    return {
        "yun apps (GET /v3/apps?space_guid)": percentiles(
            timed(api, "/v3/apps", calls, {"space_guid": space})
        ),
        "yun app (GET /v3/apps/GUID)": percentiles(timed(api, f"/v3/apps/{app}", calls)),
    }


def _developer(api: httpx.Client, base: str, org: str, spaces: int) -> dict[str, str]:
    """A user with SpaceDeveloper in every space of `org`; their Authorization header."""
    api.post("/v3/users", json={"name": "dev", "password": "bench-password"}).raise_for_status()
    for s in range(spaces):
        path = f"/v3/organizations/{org}/spaces/s{s}/users/dev/roles/SpaceDeveloper"
        api.put(path).raise_for_status()
    login = httpx.post(
        f"{base}/v3/auth/token", json={"username": "dev", "password": "bench-password"}
    )
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per measurement")
    parser.add_argument("--orgs", type=int, default=5)
    parser.add_argument("--spaces", type=int, default=10, help="spaces per org")
    parser.add_argument("--apps", type=int, default=10, help="apps per space")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yun-bench-api-") as folder:
        env = server_env(Path(folder))
        with running_server(env) as base:
            token = httpx.post(
                f"{base}/v3/auth/token", json={"username": "admin", "password": "bench-password"}
            ).json()["access_token"]
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as api:
                default = api.get("/v3/organizations/main/spaces/dev").json()["guid"]
                one = push(api, "only-app")
                results = {"1 app": measure(api, default, one, args.calls)}
                for o in range(args.orgs):
                    api.post("/v3/organizations", json={"name": f"org{o}"}).raise_for_status()
                    for s in range(args.spaces):
                        made = api.post("/v3/spaces", json={"org": f"org{o}", "name": f"s{s}"})
                        made.raise_for_status()
                        for a in range(args.apps):
                            push(api, f"app-{o}-{s}-{a}", made.json()["guid"])
                total = args.orgs * args.spaces * args.apps + 1
                last_space = made.json()["guid"]
                some_app = api.get("/v3/apps", params={"space_guid": last_space}).json()
                app_guid = some_app["resources"][0]["guid"]
                results[f"{total} apps"] = measure(api, last_space, app_guid, args.calls)
                member = _developer(api, base, f"org{args.orgs - 1}", args.spaces)
                with httpx.Client(base_url=base, headers=member, timeout=30) as dev:
                    results[f"{total} apps, SpaceDeveloper"] = measure(
                        dev, last_space, app_guid, args.calls
                    )
    for scale, rows in results.items():
        for name, (p50, p99) in rows.items():
            print(f"{scale:>25}  {name:38}  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    worst = max(p99 for rows in results.values() for _, p99 in rows.values())
    print(f"worst p99 {worst:.1f} ms (target <= 50 ms at 500 apps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
