"""render(): the HAProxy configuration Yun writes for a set of routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yun.router import Policy, Route, RouterConfig, Server, backend_name, render, render_files
from yun.router.accesslog import ACCESS_RING, INSTANCE, LOG_FORMAT
from yun.router.config import _quoted

CONFIG = RouterConfig(bind="127.0.0.1", port=8080, run_dir=Path("/run/yun"))
LOGGED = RouterConfig(bind="127.0.0.1", port=8080, run_dir=Path("/run/yun"), access_log=True)


def servers(*ports: int) -> list[Server]:
    return [Server(f"idx-{i}", "127.0.0.1", port) for i, port in enumerate(ports)]


def section(text: str, header: str) -> list[str]:
    """The lines of one config section, indentation stripped."""
    lines = text.splitlines()
    start = lines.index(header)
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    return body


def use_backend_lines(text: str) -> list[str]:
    return [line for line in section(text, "frontend yun_http") if line.startswith("use_backend")]


def host_map(routes: list[Route]) -> list[str]:
    (content,) = render_files(CONFIG, routes).files.values()
    return content.splitlines()


MAP_LOOKUP = re.compile(
    re.escape("use_backend \"%[var(txn.yun_host),map_str('/run/yun/hosts.map')]\"")
)


def filled(lines: list[str]) -> list[str]:
    """The servers in a section's slots, as `address[ weight N][ proto h2]`, in slot order."""
    return [
        re.sub(r" cookie \S+", "", line.split(" ", 2)[2])
        for line in lines
        if line.startswith("server ") and not line.endswith(" disabled")
    ]


HELLO = Route("hello.apps.localhost", "", "guid-hello", "hello", servers(9001, 9002))
API = Route("hello.apps.localhost", "/api", "guid-api", "api", servers(9003))
V2 = Route("hello.apps.localhost", "/api/v2", "guid-v2", "v2", servers(9004))
OTHER = Route("other.apps.localhost", "", "guid-other", "other", servers(9005))


def test_same_routes_in_any_order_render_identical_text():
    routes = [HELLO, API, V2, OTHER]
    shuffled = [OTHER, V2, HELLO, API]
    reversed_servers = [Route(**{**vars(HELLO), "servers": list(reversed(HELLO.servers))})]

    assert render(CONFIG, routes) == render(CONFIG, shuffled)
    assert render(CONFIG, [HELLO]) == render(CONFIG, reversed_servers)


def test_path_routes_come_first_longest_first_then_the_host_map():
    rules = use_backend_lines(render(CONFIG, [HELLO, OTHER, API, V2]))

    assert [rule.split()[1] for rule in rules[:2]] == ["be_guid-v2", "be_guid-api"]
    assert '{ path -m str "/api/v2" }' in rules[0]
    assert '{ path -m beg "/api/v2/" }' in rules[0]
    assert MAP_LOOKUP.fullmatch(rules[2])
    assert len(rules) == 3


def test_bare_hosts_are_looked_up_in_a_sorted_map():
    assert host_map([OTHER, API, HELLO]) == [
        "hello.apps.localhost be_guid-hello",
        "other.apps.localhost be_guid-other",
    ]


def test_a_host_for_a_backend_that_exists_changes_the_host_map_not_the_layout():
    one = render_files(CONFIG, [HELLO])
    alias = Route(**{**vars(HELLO), "host": "hi.apps.localhost"})
    two = render_files(CONFIG, [HELLO, alias])

    assert list(one.files) == list(two.files) == ["hosts.map"]
    assert two.files["hosts.map"] != one.files["hosts.map"]
    assert two.layout == one.layout and two.text == one.text
    assert two.runtime.hosts == {
        "hello.apps.localhost": "be_guid-hello",
        "hi.apps.localhost": "be_guid-hello",
    }
    assert render_files(CONFIG, [HELLO, OTHER]).layout != one.layout  # a new backend
    assert render_files(CONFIG, [HELLO, API]).files == one.files  # path routes are not in it


def test_host_is_matched_lowercased_and_paths_lose_trailing_slash():
    route = Route("Hello.Apps.Localhost.", "/API/", "guid", "hello", servers(9001))
    bare = Route("Hello.Apps.Localhost", "", "guid", "hello", servers(9001))

    rule = use_backend_lines(render(CONFIG, [route]))[0]

    assert "-m str hello.apps.localhost }" in rule
    assert '"/API"' in rule and '"/API/"' in rule
    assert host_map([bare]) == ["hello.apps.localhost be_guid"]


def test_backend_balances_round_robin_over_sorted_servers():
    route = Route(
        "a.apps.localhost",
        "",
        "guid",
        "a",
        [Server("b", "10.0.0.2", 80), Server("a", "10.0.0.1", 81)],
    )

    lines = section(render(CONFIG, [route]), "backend be_guid")

    assert lines[0] == "balance roundrobin"
    assert filled(lines) == ["10.0.0.1:81", "10.0.0.2:80"]
    assert len([line for line in lines if line.startswith("server ")]) == 16  # slots ahead
    assert re.fullmatch(
        r"server ([0-9a-f]{8})-3 127\.0\.0\.1:1 cookie \1-3 disabled", lines[-1 - 13]
    )


def test_route_without_servers_answers_503_itself():
    lines = section(
        render(CONFIG, [Route("e.apps.localhost", "", "guid", "e", [])]), "backend be_guid"
    )

    assert not any(line.startswith("server") for line in lines)  # stopped: no slots either
    (answer,) = [line for line in lines if line.startswith("http-request return")]
    assert "status 503" in answer and answer.endswith("if { nbsrv eq 0 } !{ stopping }")
    assert "hdr X-Yun-Router-Error no_healthy_instances" in answer


def test_unknown_routes_fall_through_to_404():
    text = render(CONFIG, [HELLO])

    assert section(text, "frontend yun_http")[-1] == "default_backend yun_unknown_route"
    (answer,) = section(text, "backend yun_unknown_route")
    assert "status 404" in answer
    assert "Requested route ('%[var(txn.yun_host)]') does not exist.\\n" in answer
    assert "hdr X-Yun-Router-Error unknown_route" in answer


def test_no_routes_still_renders_a_listening_frontend():
    text = render(CONFIG, [])

    assert "bind 127.0.0.1:8080" in section(text, "frontend yun_http")
    assert [bool(MAP_LOOKUP.fullmatch(rule)) for rule in use_backend_lines(text)] == [True]
    assert host_map([]) == []


def test_retries_only_failed_connections_on_other_instances():
    defaults = section(render(CONFIG, [HELLO]), "defaults")

    assert "retry-on conn-failure" in defaults
    assert "option redispatch 1" in defaults
    assert "retries 3" in defaults
    assert not any("check" in line.split() for line in defaults)


def test_timeouts():
    defaults = section(render(CONFIG, [HELLO]), "defaults")

    for expected in ("timeout connect 5s", "timeout client 60s", "timeout tunnel 1h"):
        assert expected in defaults


def test_global_section_enables_seamless_reloads_with_state_in_run_dir():
    lines = section(render(CONFIG, [HELLO]), "global")

    assert 'stats socket "/run/yun/stats.sock" mode 600 level admin expose-fd listeners' in lines


def test_without_access_log_nothing_is_logged():
    text = render(CONFIG, [HELLO])

    assert "no log" in section(text, "frontend yun_http")
    assert "log-format" not in text
    assert "ring@" not in text
    assert f"ring {ACCESS_RING}" not in text
    assert not any(line.startswith("log ") for line in section(text, "global"))
    assert "capture" not in text  # nor are the values only the log needs kept


def test_with_access_log_requests_are_logged_into_the_ring_in_yun_format():
    text = render(LOGGED, [HELLO])

    assert "log ring@yun_access len 16384 format raw local0 info" in section(text, "global")
    # The server's name is its slot: the record names the instance in it, from a map.
    slot_to_instance = " %[srv_name,map_str('/run/yun/instances.map')] "
    logged_format = LOG_FORMAT.replace(INSTANCE, slot_to_instance)
    assert f"log-format {_quoted(logged_format)}" in section(text, "frontend yun_http")
    frontend = section(text, "frontend yun_http")
    # The values only the log needs are HAProxy's captures of the headers the client sent;
    # the log reader adds what the router did (rtr.decode).
    assert "capture request header User-Agent len 1280" in frontend
    assert "capture request header traceparent len 55" in frontend
    assert "http-request capture req.ver id 4" in frontend
    assert not any("set-var(txn.yun_ua)" in line for line in frontend)
    # The backend's name, which HAProxy logs, names the app: backends set nothing for the log.
    assert not any("txn.yun_app" in line for line in section(text, "backend be_guid-hello"))


def test_access_ring_holds_whole_lines_and_a_backlog():
    ring = section(render(LOGGED, [HELLO]), f"ring {ACCESS_RING}")

    assert "format raw" in ring  # the line as LOG_FORMAT writes it: the log store's own
    assert "maxlen 16384" in ring
    assert "size 16777216" in ring


def test_free_text_becomes_safe_names():
    route = Route("a.apps.localhost", "", "guid 1/ü", "my app", [Server("web 0", "127.0.0.1", 1)])

    text = render(LOGGED, [route])

    lines = section(text, "backend be_guid:201:2f:c3:bc")
    assert filled(lines) == ["127.0.0.1:1"]


def test_odd_path_characters_are_escaped_for_haproxy():
    rule = use_backend_lines(render(CONFIG, [Route("a.apps.localhost", "/$x'y", "g", "a", [])]))[0]

    assert '"/\\$x\'y"' in rule


def test_ipv6_and_hostname_servers():
    route = Route(
        "a.apps.localhost",
        "",
        "g",
        "a",
        [Server("v6", "::1", 8080), Server("dns", "Localhost", 80)],
    )

    lines = section(render(CONFIG, [route]), "backend be_g")

    assert filled(lines) == ["localhost:80", "ipv6@::1:8080"]


def test_text_is_stable_across_calls():
    first = render(LOGGED, [HELLO, API])
    assert re.search(r"\d{4}-\d\d-\d\d", first) is None  # no timestamps that would force reloads
    assert render(LOGGED, [HELLO, API]) == first


@pytest.mark.parametrize(
    "route",
    [
        Route("bad host", "", "g", "a", []),
        Route("a.apps.localhost\n    bind :80", "", "g", "a", []),
        Route("a.*.apps.localhost", "", "g", "a", []),
        Route("*", "", "g", "a", []),
        Route("", "", "g", "a", []),
        Route("a.apps.localhost", "api", "g", "a", []),
        Route("a.apps.localhost", "/a b", "g", "a", []),
        Route("a.apps.localhost", "/a#b", "g", "a", []),
        Route("a.apps.localhost", "/a?b", "g", "a", []),
        Route("a.apps.localhost", "/a//b", "g", "a", []),
        Route("a.apps.localhost", "", "", "a", []),
        Route("a.apps.localhost", "", "g", "a", [Server("", "127.0.0.1", 1)]),
        Route("a.apps.localhost", "", "g", "a", [Server("s", "127.0.0.1", 0)]),
        Route("a.apps.localhost", "", "g", "a", [Server("s", "127.0.0.1", 70000)]),
        Route("a.apps.localhost", "", "g", "a", [Server("s", "bad address", 1)]),
        Route("a.apps.localhost", "", "g", "a", [Server("s", "127.0.0.1", 1)] * 2),
    ],
)
def test_input_haproxy_must_not_see_is_rejected(route):
    with pytest.raises(ValueError):
        render(CONFIG, [route])


def test_same_host_and_path_on_two_backends_is_rejected():
    with pytest.raises(ValueError, match="two backends"):
        render(CONFIG, [HELLO, Route(HELLO.host, "", "guid-else", "else", servers(9009))])


def test_one_backend_with_two_server_lists_is_rejected():
    with pytest.raises(ValueError, match="disagree"):
        render(CONFIG, [HELLO, Route("alias.apps.localhost", "", HELLO.backend, "hello", [])])


def test_several_routes_may_share_one_backend():
    alias = Route("alias.apps.localhost", "", HELLO.backend, HELLO.app_name, HELLO.servers)

    text = render(CONFIG, [HELLO, alias, HELLO])

    assert text.splitlines().count("backend be_guid-hello") == 1
    assert host_map([HELLO, alias, HELLO]) == [
        "alias.apps.localhost be_guid-hello",
        "hello.apps.localhost be_guid-hello",
    ]


def test_run_dir_with_a_single_quote_is_rejected():
    with pytest.raises(ValueError, match="single quote"):
        render(RouterConfig("127.0.0.1", 8080, Path("/run/it's")), [])


def test_bind_must_be_an_ip_address():
    with pytest.raises(ValueError, match="IP address"):
        render(RouterConfig("localhost", 8080, Path("/run/yun")), [])
    assert "bind :8080" in render(RouterConfig("", 8080, Path("/run/yun")), [])
    assert "bind ipv6@::1:8080" in render(RouterConfig("::1", 8080, Path("/run/yun")), [])


def test_server_weights_are_written_where_they_are_not_one():
    route = Route(
        "a.apps.localhost",
        "",
        "guid",
        "a",
        [
            Server("old-0", "10.0.0.1", 80, weight=9),
            Server("new-0", "10.0.0.2", 80, weight=4),
            Server("idle", "10.0.0.3", 80, weight=0),
            Server("plain", "10.0.0.4", 80),
        ],
    )
    lines = [line for line in section(render(CONFIG, [route]), "backend be_guid")]
    assert filled(lines) == [
        "10.0.0.3:80 weight 0",
        "10.0.0.2:80 weight 4",
        "10.0.0.1:80 weight 9",
        "10.0.0.4:80",
    ]


def test_a_weight_haproxy_would_refuse_is_rejected():
    route = Route("a.apps.localhost", "", "guid", "a", [Server("s", "10.0.0.1", 80, weight=300)])
    with pytest.raises(ValueError, match="weight 300"):
        render(CONFIG, [route])


def test_wildcard_rules_appear_only_with_wildcard_routes() -> None:
    plain = render(LOGGED, [HELLO, API])
    assert "yun_wild" not in plain
    wild = render(LOGGED, [HELLO, Route("*.apps.localhost", "", "w", "w", [])])
    assert "http-request set-var(txn.yun_wild) var(txn.yun_host),regsub(^[^.]+,*)" in wild
    assert "use_backend %[var(txn.yun_be_wild)] if { var(txn.yun_be_wild) -m found }" in wild


def test_acme_challenges_are_answered_from_a_map_only_while_there_are_some() -> None:
    hello = HELLO
    plain = render_files(CONFIG, [hello])
    assert "acme-challenge" not in plain.text
    answers = {"tok-EN_1": "tok-EN_1.thumb_print-2"}
    rendered = render_files(CONFIG, [hello], challenges=answers)
    (name,) = [n for n in rendered.files if n.startswith("acme-")]
    assert rendered.files[name] == "tok-EN_1 tok-EN_1.thumb_print-2\n"
    rules = section(rendered.text, "frontend yun_http")
    lookup = next(i for i, line in enumerate(rules) if f"map_str('/run/yun/{name}')" in line)
    assert "path_beg /.well-known/acme-challenge/" in rules[lookup]
    assert rules[lookup + 1].startswith("http-request return status 200")
    # Before any route's rules: an app (or https_redirect) never sees the CA's request.
    assert lookup < min(i for i, line in enumerate(rules) if line.startswith("use_backend"))


@pytest.mark.parametrize(
    "answers", [{"a b": "x"}, {"tok": "x y"}, {"tok": "x\nbad"}, {"../etc": "x"}, {"tok": ""}]
)
def test_acme_challenges_that_would_break_the_map_are_refused(answers: dict[str, str]) -> None:
    hello = HELLO
    with pytest.raises(ValueError, match="ACME challenge"):
        render_files(CONFIG, [hello], challenges=answers)


def test_an_http2_route_speaks_h2c_to_its_instances_and_others_do_not() -> None:
    grpc = Route("grpc.apps.localhost", "", "guid-grpc", "grpc", servers(9100, 9101))
    grpc = Route(**{**grpc.__dict__, "policy": Policy(protocol="http2")})
    text = render(CONFIG, [HELLO, grpc])
    h2 = filled(section(text, f"backend {backend_name('guid-grpc')}"))
    assert h2 and all(line.endswith(" proto h2") for line in h2)
    h1 = filled(section(text, f"backend {backend_name('guid-hello')}"))
    assert h1 and not any("proto" in line for line in h1)
    with pytest.raises(ValueError, match="protocol"):
        render(CONFIG, [Route(**{**grpc.__dict__, "policy": Policy(protocol="h3")})])


def test_behind_a_route_service_the_gateway_applies_to_unsigned_requests_only() -> None:
    config = RouterConfig(
        bind="127.0.0.1", port=8080, run_dir=Path("/run/yun"), route_service_key="a2V5"
    )
    policy = Policy(
        route_service="https://gate.example.com/check",
        allow=("10.0.0.0/8",),
        rate_limit=5,
        rate_window=1,
        api_keys="scope",
    )
    route = Route("api.example.com", "", "app-guid", "api", servers(9000), policy=policy)
    backend = section(render(config, [route]), f"backend {backend_name('app-guid')}")
    signed = "{ var(txn.yun_rs_sig) -m found }"
    gateway = [
        line
        for line in backend
        if any(word in line for word in ("src 10.0.0.0/8", "track-sc", "sc-inc-gpc", "api_key"))
    ]
    assert len(gateway) >= 6
    for line in gateway:  # each checks or counts the client's request, not the service's
        # the signature is tested first, before a test that counts (`sc_inc_gpc0`)
        terms = line.split(" if ", 1)[1].split(" or ") if " if " in line else []
        assert f" unless {signed}" in line or all(t.startswith(f"!{signed}") for t in terms), line
    deny = f"http-request deny deny_status 403 unless {signed} or {{ src 10.0.0.0/8 }}"
    assert deny in backend
    plain = section(
        render(config, [Route(**{**route.__dict__, "policy": Policy(rate_limit=5)})]),
        f"backend {backend_name('app-guid')}",
    )
    assert not any("yun_rs_sig" in line for line in plain)
