"""Stage the examples with the real built-in buildpacks (real pip, npm, nginx) and run them.

Each droplet is unpacked into a new folder after the staging folder was deleted, so these tests
also prove that droplets are relocatable.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.integration.builder.builder_running import (
    EXAMPLES,
    get,
    running,
    stage_app,
    wait_for_http,
)

pytestmark = pytest.mark.integration


def test_hello_python_serves_from_a_relocated_droplet(tmp_path: Path) -> None:
    staged = stage_app(EXAMPLES / "hello-python", tmp_path, env={"GREETING": "hello"})

    assert staged.result.detected == "python"
    assert staged.result.process_types == {"web": "python app.py"}
    assert "-----> Installing Python packages from requirements.txt with pip" in staged.lines
    assert any(line.startswith("Successfully installed") for line in staged.lines)

    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, "python app.py", env={"GREETING": "hi"}) as app:
        response = wait_for_http(app)
        assert response.status_code == 200
        assert response.text == "Hello from Yun! instance 3\n"
        assert get(app, "/env/GREETING").text == "hi\n"
        assert get(app, "/health").status_code == 200
        assert get(app, "/env/VIRTUAL_ENV").text == f"{root}/deps/0/venv\n"


def test_python_restage_reuses_installed_packages_and_adds_stackato_ones(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = stage_app(EXAMPLES / "hello-python", tmp_path, cache=cache, label="-1")
    assert any(line.startswith("Successfully installed") for line in first.lines)
    assert (cache / "python" / "installed" / "key").is_file()
    installed = cache / "python" / "installed" / "venv" / "lib"
    assert list(installed.glob("python3.*/site-packages/flask/__init__.py"))

    second = stage_app(EXAMPLES / "hello-python", tmp_path, cache=cache, label="-2")
    assert "-----> Reusing the installed Python packages (requirements unchanged)" in second.lines
    assert not any(line.startswith("Successfully installed") for line in second.lines)

    third = stage_app(
        EXAMPLES / "hello-python",
        tmp_path,
        cache=cache,
        label="-3",
        pip_requirements=["six"],
        post_staging=["python3 -c \"import flask, six; print('post-staging sees', six.__name__)\""],
    )
    assert "-----> Installing Python packages from Stackato requirements with pip" in third.lines
    assert "post-staging sees six" in third.lines
    with running(third.droplet, tmp_path / "run-3", "python app.py") as app:
        assert wait_for_http(app).status_code == 200


def test_hello_node_runs_server_js_without_a_start_script(tmp_path: Path) -> None:
    staged = stage_app(EXAMPLES / "hello-node", tmp_path)

    assert staged.result.detected == "nodejs"
    assert staged.result.start_command == "node server.js"
    assert "-----> Installing dependencies with npm install" in staged.lines

    with running(staged.droplet, tmp_path / "elsewhere", staged.result.start_command) as app:
        response = wait_for_http(app)
        assert response.status_code == 200
        assert response.text.startswith("Hello from Yun! instance 3 (node v")


def test_node_dependencies_are_installed_into_the_droplet(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "package.json").write_text(
        '{"name": "dep-app", "version": "1.0.0", "private": true,'
        ' "dependencies": {"ms": "2.1.3"}, "scripts": {"start": "node index.js"}}'
    )
    (source / "index.js").write_text(
        "const http = require('http'); const ms = require('ms');\n"
        "http.createServer((q, r) => r.end(`two days = ${ms('2 days')} ms\\n`))"
        ".listen(Number(process.env.PORT), process.env.VCAP_APP_HOST);\n"
    )
    cache = tmp_path / "cache"
    staged = stage_app(source, tmp_path, cache=cache, label="-1")
    assert staged.result.start_command == "npm start"
    assert (cache / "nodejs" / "npm").is_dir()

    with running(staged.droplet, tmp_path / "elsewhere", "npm start") as app:
        assert wait_for_http(app).text == "two days = 172800000 ms\n"


def test_hello_static_is_served_by_nginx_with_files_in_the_app_dir(tmp_path: Path) -> None:
    staged = stage_app(EXAMPLES / "hello-static", tmp_path)

    assert staged.result.detected == "static"
    assert staged.result.start_command == "yun-start-nginx"

    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, staged.result.start_command) as app:
        response = wait_for_http(app)
        assert response.status_code == 200
        assert "<h1>Hello from Yun!</h1>" in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert get(app, "/Staticfile").status_code == 404
        assert get(app, "/.yun-nginx/nginx.conf").status_code == 404
        assert (root / "app" / ".yun-nginx" / "nginx.pid").is_file()
        deadline = time.monotonic() + 5
        while "GET / HTTP/1.1" not in app.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "GET / HTTP/1.1" in app.logs()  # access log on stdout


def test_worker_runs_with_the_binary_buildpack(tmp_path: Path) -> None:
    staged = stage_app(EXAMPLES / "worker-python", tmp_path, buildpacks=["binary_buildpack"])
    assert staged.result.buildpacks == ["binary"]
    assert staged.result.process_types == {}

    with running(staged.droplet, tmp_path / "elsewhere", "python3 worker.py") as worker:
        deadline = time.monotonic() + 10
        while "worker 3: tick 2" not in worker.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "worker 3: tick 2" in worker.logs()


def test_crash_at_start_exits_with_its_status(tmp_path: Path) -> None:
    staged = stage_app(EXAMPLES / "crash-at-start", tmp_path)
    assert (
        "-----> No Python packages to install (no requirements.txt, lock file or pyproject.toml)"
        in (staged.lines)
    )
    exit_file = tmp_path / "exit-status"
    with running(
        staged.droplet,
        tmp_path / "elsewhere",
        "python3 app.py",
        env={"YUN_EXIT_FILE": str(exit_file)},
    ) as app:
        assert app.proc.wait(timeout=30) == 1
        assert exit_file.read_text() == "1\n"
        assert "missing configuration, giving up" in app.logs()


def test_python_project_console_scripts_work_after_relocation(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "mypkg").mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "mypkg"\nversion = "0.1"\n'
        '[project.scripts]\nmypkg-hello = "mypkg:main"\n'
    )
    (source / "mypkg" / "__init__.py").write_text("def main():\n    print('hello from mypkg')\n")
    (source / "Procfile").write_text("worker: mypkg-hello\n")

    staged = stage_app(source, tmp_path)

    assert (
        "-----> Installing Python packages from pyproject.toml (the project itself) with pip"
        in (staged.lines)
    )
    assert staged.result.process_types == {"worker": "mypkg-hello"}
    exit_file = tmp_path / "exit-status"
    env = {"YUN_EXIT_FILE": str(exit_file)}
    with running(staged.droplet, tmp_path / "elsewhere", "mypkg-hello", env=env) as job:
        assert job.proc.wait(timeout=30) == 0
        assert "hello from mypkg" in job.logs()
    script = tmp_path / "elsewhere" / "deps" / "0" / "venv" / "bin" / "mypkg-hello"
    assert str(tmp_path / "work") not in script.read_text()


def test_staticfile_root_and_pushstate(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "public").mkdir(parents=True)
    (source / "Staticfile").write_text("root: public\npushstate: enabled\n")
    (source / "public" / "index.html").write_text("<p>single page</p>\n")
    (source / "secret.txt").write_text("not served\n")

    staged = stage_app(source, tmp_path)

    assert "-----> Serving the folder public" in staged.lines
    with running(staged.droplet, tmp_path / "elsewhere", staged.result.start_command) as app:
        assert wait_for_http(app).text == "<p>single page</p>\n"
        assert get(app, "/some/client/route").text == "<p>single page</p>\n"
        assert "not served" not in get(app, "/secret.txt").text
