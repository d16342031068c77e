"""Every shape of input render() accepts yields a file HAProxy itself accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from yun.router import Route, RouterConfig, Server, render_files

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)"
    ),
]

ODD = [
    Route(
        "hello.apps.localhost",
        "",
        "guid 1/ü",
        'my app ☃ "quoted" $HOME',
        [
            Server("idx 0", "127.0.0.1", 8080),
            Server("v6", "::1", 8081),
            Server("dns", "localhost", 8082),
        ],
    ),
    Route("hello.apps.localhost", "/a$b'c(d)e;f=g@h%20i~j", "guid-2", "two", []),
    Route("x_y.apps.localhost", "/api/v1", "guid-3", "three", [Server("a", "10.0.0.1", 1)]),
    Route("x_y.apps.localhost", "", "guid-3", "three", [Server("a", "10.0.0.1", 1)]),
]


@pytest.mark.parametrize("access_log", [False, True], ids=["quiet", "logged"])
@pytest.mark.parametrize("routes", [[], ODD], ids=["empty", "odd"])
def test_rendered_config_passes_haproxy_check(tmp_path, routes, access_log):
    run_dir = tmp_path / "run dir $x"
    config = RouterConfig(bind="127.0.0.1", port=8080, run_dir=run_dir, access_log=access_log)
    rendered = render_files(config, routes)
    run_dir.mkdir()
    for name, content in rendered.files.items():
        (run_dir / name).write_text(content)
    path = run_dir / "haproxy.cfg"
    path.write_text(rendered.text)

    check = subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )

    assert check.returncode == 0, check.stderr
    assert "WARNING" not in check.stderr
