"""TCP routes in the rendered HAProxy configuration: one plain TCP proxy per router port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from yun.router import Route, RouterConfig, Server, TcpRoute, render, render_files
from yun.router.slots import slot_name
from yun.tls import ensure_ca, issue

CONFIG = RouterConfig(bind="127.0.0.1", port=8080, run_dir=Path("/run/yun"))
HELLO = Route("hello.apps.localhost", "", "guid-hello", "hello", [Server("h", "127.0.0.1", 9001)])
ECHO = TcpRoute(
    port=40000,
    backend="tcp-guid-1",
    app_name="echo",
    servers=[
        Server("echo-1", "127.0.0.1", 45001, instance="1"),
        Server("echo-0", "127.0.0.1", 45000, instance="0"),
    ],
)
EMPTY = TcpRoute(port=40001, backend="tcp-guid-2", app_name="idle", servers=[])


def section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header)
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    return body


def test_a_tcp_route_is_a_round_robin_tcp_proxy_on_its_port() -> None:
    text = render(CONFIG, [HELLO], tcp_routes=[ECHO])
    slot = slot_name("tcp_40000", 1)[:-2]
    assert section(text, "listen tcp_40000") == [
        "bind 127.0.0.1:40000",
        "no log",
        "balance roundrobin",
        'description "echo"',
        f"server {slot}-1 127.0.0.1:45000",
        f"server {slot}-2 127.0.0.1:45001",
        *(f"server {slot}-{n} 127.0.0.1:1 disabled" for n in range(3, 17)),
    ]


def sections(text: str) -> list[tuple[str, list[str]]]:
    """Every section as (header, body lines), in file order."""
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("    ") and found:
            found[-1][1].append(line.strip())
        elif line and not line.startswith("#"):
            found.append((line, []))
    return found


def test_tcp_proxies_come_last_after_tcp_defaults_of_their_own() -> None:
    found = sections(render(CONFIG, [HELLO], tcp_routes=[ECHO]))
    headers = [header for header, _ in found]
    assert headers.index("frontend yun_http") < headers.index("defaults", 2)
    assert headers[-2:] == ["defaults", "listen tcp_40000"]
    tcp_defaults = found[-2][1]
    assert "mode tcp" in tcp_defaults
    assert "timeout client 1h" in tcp_defaults
    assert "retries 3" in tcp_defaults and "option redispatch 1" in tcp_defaults
    assert not [line for _, body in found[-2:] for line in body if "http" in line]


def test_a_route_without_instances_still_holds_its_port() -> None:
    text = render(CONFIG, [], tcp_routes=[EMPTY])
    assert section(text, "listen tcp_40001")[:3] == [
        "bind 127.0.0.1:40001",
        "no log",
        "balance roundrobin",
    ]
    assert not any(line.startswith("server") for line in section(text, "listen tcp_40001"))


def test_without_tcp_routes_the_config_is_unchanged() -> None:
    assert render(CONFIG, [HELLO], tcp_routes=[]) == render(CONFIG, [HELLO])
    assert "mode tcp" not in render(CONFIG, [HELLO])


def test_tcp_routes_render_in_port_order_whatever_the_input_order() -> None:
    one = render(CONFIG, [], tcp_routes=[EMPTY, ECHO])
    assert one == render(CONFIG, [], tcp_routes=[ECHO, EMPTY])
    assert one.index("listen tcp_40000") < one.index("listen tcp_40001")


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([ECHO, TcpRoute(40000, "other", "other", [])], "port 40000 is given to two routes"),
        ([TcpRoute(8080, "x", "x", [])], "router's HTTP port"),
        ([TcpRoute(70000, "x", "x", [])], "invalid router port 70000"),
        ([TcpRoute(40002, "x", "x", [Server("a", "127.0.0.1", 0)])], "invalid port 0"),
        ([TcpRoute(40002, "x", "x", [Server("a", "1.1.1.1 x", 9)])], "invalid address"),
    ],
)
def test_tcp_routes_haproxy_must_not_see_are_rejected(routes: list[TcpRoute], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render(CONFIG, [HELLO], tcp_routes=routes)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
@pytest.mark.parametrize("access_log", [False, True], ids=["quiet", "logged"])
def test_haproxy_accepts_the_config_without_warnings(tmp_path: Path, access_log: bool) -> None:
    config = RouterConfig(
        bind="127.0.0.1", port=8080, run_dir=tmp_path, access_log=access_log, https_port=8443
    )
    ca = ensure_ca(tmp_path / "ca")
    certificates = [issue(ca, ("*.apps.localhost",)), issue(ca, ("www.example.test",))]
    odd = TcpRoute(40002, 'guid ü "q"', 'my app ☃ "quoted" $HOME', [Server("v6", "::1", 5)])
    wild = Route("*.example.test", "/api", "wild", "w", [Server("w", "127.0.0.1", 9)])
    rendered = render_files(
        config, [HELLO, wild], tcp_routes=[ECHO, EMPTY, odd], certificates=certificates
    )
    for name, content in rendered.files.items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "haproxy.cfg"
    path.write_text(rendered.text)

    check = subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )

    assert check.returncode == 0, check.stderr
    assert "WARNING" not in check.stderr, check.stderr
