"""API keys on a route through real HAProxy: without a key, with a wrong one or another
route's, 401; a key's plan lets exactly N requests through in a rate window (429 with
Retry-After after them) and stops it at its quota; keys come and go through the runtime API,
no reload; what each key used is read back from the router."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import replace

import pytest

from yun.router import KeyLimits, Policy, key_entry
from yun.router.control import send_command

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

HOST, OTHER = "api.apps.localhost", "billing.apps.localhost"
WINDOW = 10


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keyed(key: str) -> dict[str, str]:
    return {"X-Api-Key": key}


def test_keys_their_rate_and_quota(router, backend, http, make_route):
    api, billing = backend("api"), backend("billing")
    routes = [
        replace(make_route(HOST, api.server()), policy=Policy(api_keys="route-api")),
        replace(make_route(OTHER, billing.server()), policy=Policy(api_keys="route-billing")),
    ]
    keys = {
        key_entry("route-api", digest("gold-key")): KeyLimits(),  # no limits
        key_entry("route-api", digest("free-key")): KeyLimits(rate=3, rate_window=WINDOW),
        key_entry("route-api", digest("trial-key")): KeyLimits(quota=4, quota_window=86400),
        key_entry("route-billing", digest("billing-key")): KeyLimits(),
    }
    router.apply(routes, api_keys=keys)

    assert http(HOST).status == 401
    refused = http(HOST, headers=keyed("guessed-key"))
    assert refused.status == 401 and refused.headers["x-yun-router-error"] == "api_key_refused"
    assert http(HOST, headers=keyed("billing-key")).status == 401  # another route's key
    assert http(OTHER, headers=keyed("billing-key")).status == 200
    assert http(HOST, path="/?api_key=gold-key").status == 200  # as a query parameter
    assert all(http(HOST, headers=keyed("gold-key")).status == 200 for _ in range(10))

    while time.time() % WINDOW > WINDOW - 3:  # the free key's requests all in one window
        time.sleep(0.1)
    answers = [http(HOST, headers=keyed("free-key")) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 3 + [429] * 2
    assert answers[-1].headers["x-yun-router-error"] == "api_key_rate"
    assert 1 <= int(answers[-1].headers["retry-after"]) <= WINDOW

    trial = [http(HOST, headers=keyed("trial-key")).status for _ in range(6)]
    assert trial == [200] * 4 + [429] * 2
    over = http(HOST, headers=keyed("trial-key"))
    assert over.headers["x-yun-router-error"] == "api_key_quota"
    assert 0 < int(over.headers["retry-after"]) <= 86400

    # What each key used, read back: the free key's five tries in its window, the trial
    # key's four served requests of its quota.
    counts = router.key_counts("route-api")
    now = int(time.time())
    assert counts[f"{now // WINDOW}/r/{digest('free-key')}"] == 5
    assert counts[f"{now // 86400}/q/{digest('trial-key')}"] == 4


def test_keys_come_and_go_without_a_reload(router, backend, http, make_route):
    api = backend("api")
    route = replace(make_route(HOST, api.server()), policy=Policy(api_keys="route-api"))
    router.apply([route], api_keys={})
    reloads = router.processes().reloads
    assert http(HOST, headers=keyed("new-key")).status == 401
    entry = key_entry("route-api", digest("new-key"))
    router.apply([route], api_keys={entry: KeyLimits()})
    assert http(HOST, headers=keyed("new-key")).status == 200
    router.apply([route], api_keys={entry: KeyLimits(quota=1, quota_window=3600)})
    assert [http(HOST, headers=keyed("new-key")).status for _ in range(2)] == [200, 429]
    router.apply([route], api_keys={})
    assert http(HOST, headers=keyed("new-key")).status == 401
    assert router.processes().reloads == reloads


def _resynced(router) -> bool:
    """Whether the worker's peers section is done with its first resync (HAProxy's flags
    0x3: from a local and a remote peer); only then does it hand its tables on at a reload."""
    shown = send_command(router.stats_socket, "show peers")
    flags = re.search(r"flags=0x([0-9a-f]+)", shown)
    return flags is not None and int(flags.group(1), 16) & 0x3 == 0x3


def test_a_reload_keeps_what_addresses_and_keys_used(router, backend, http, make_route):
    api, billing = backend("api"), backend("billing")
    route = replace(
        make_route(HOST, api.server()),
        policy=Policy(api_keys="route-api", rate_limit=4, rate_window=60),
    )
    keys = {key_entry("route-api", digest("trial-key")): KeyLimits(quota=5)}
    router.apply([route], api_keys=keys)
    deadline = time.monotonic() + 15
    while not _resynced(router) and time.monotonic() < deadline:  # ~5 s after a start
        time.sleep(0.2)
    while time.time() % 60 > 45:  # the address's requests all in one window
        time.sleep(0.2)
    assert [http(HOST, headers=keyed("trial-key")).status for _ in range(3)] == [200] * 3
    reloads = router.reloads
    router.apply([route, make_route(OTHER, billing.server())], api_keys=keys)  # a new backend
    assert router.reloads == reloads + 1
    # The address had 3 of its 4, the key 3 of its 5: one more passes, then 429.
    answers = [http(HOST, headers=keyed("trial-key")) for _ in range(2)]
    assert [a.status for a in answers] == [200, 429]
    assert answers[-1].headers["x-yun-router-error"] == "rate_limited"
    assert (
        router.key_counts("route-api")[f"{int(time.time()) // 86400}/q/{digest('trial-key')}"] == 4
    )
