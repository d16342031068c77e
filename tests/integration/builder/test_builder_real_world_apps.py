"""Python apps written the way the world writes them (tests/apps), staged with the real python
buildpack (real pip, uv from PyPI) and started by their own Procfile from a relocated droplet:
each answers with its own text. The same apps are pushed through the CLI in tests/e2e."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.builder.builder_running import (
    failing_stage,
    get,
    running,
    stage_app,
    wait_for_http,
)

pytestmark = pytest.mark.integration

APPS = Path(__file__).parents[2] / "apps"

CASES = {
    # app: (what staging says it installs from, the answer's text)
    "flask-procfile": ("requirements.txt", "Hello World from Flask, started with python app.py"),
    "django-gunicorn": ("requirements.txt", "Hello from Django, styles at /static/site."),
    "fastapi-pyproject": ("pyproject.toml dependencies", '{"message":"Hello from FastAPI"}'),
    "uv-locked": ("uv.lock", "Hello from a uv-locked Bottle app on waitress"),
    "pipfile-app": ("Pipfile.lock", "Hello from a Pipenv app on gunicorn"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_real_world_python_app_serves_from_its_procfile(name: str, tmp_path: Path) -> None:
    source, text = CASES[name]
    staged = stage_app(APPS / name, tmp_path)

    assert staged.result.detected == "python"
    assert f"-----> Installing Python packages from {source} with pip" in staged.lines
    web = staged.result.process_types["web"]
    with running(staged.droplet, tmp_path / "elsewhere", web) as app:
        response = wait_for_http(app, timeout=60)
        assert response.status_code == 200, app.logs()
        assert response.text.startswith(text), response.text


def test_django_collects_static_files_and_whitenoise_serves_them(tmp_path: Path) -> None:
    staged = stage_app(APPS / "django-gunicorn", tmp_path)

    assert "-----> Running Django's collectstatic (DISABLE_COLLECTSTATIC=1 skips it)" in (
        staged.lines
    )
    with running(staged.droplet, tmp_path / "elsewhere", staged.result.process_types["web"]) as app:
        page = wait_for_http(app, timeout=60).text
        stylesheet = page.split("styles at ")[1].strip()
        assert stylesheet != "/static/site.css"  # the manifest storage hashed its name
        assert get(app, stylesheet).text == "body { color: #333; }\n"


def test_python_pip_and_console_scripts_are_on_the_path(tmp_path: Path) -> None:
    staged = stage_app(APPS / "pipfile-app", tmp_path)
    command = (
        "python -c 'import sys; print(sys.prefix)' && pip --version && command -v gunicorn"
        " && echo WEB_CONCURRENCY=$WEB_CONCURRENCY"
    )
    root = tmp_path / "elsewhere"
    env = {"MEMORY_LIMIT": "512m"}
    with running(staged.droplet, root, command, env=env) as job:
        assert job.proc.wait(timeout=30) == 0, job.logs()
        out = job.logs()
    venv = root / "deps" / "0" / "venv"
    assert f"{venv}\n" in out
    assert "(python 3." in out and "pip " in out
    assert f"{venv}/bin/gunicorn\n" in out
    assert "WEB_CONCURRENCY=2\n" in out


def test_disable_collectstatic_skips_it(tmp_path: Path) -> None:
    staged = stage_app(APPS / "django-gunicorn", tmp_path, env={"DISABLE_COLLECTSTATIC": "1"})

    assert not any("collectstatic" in line for line in staged.lines)


def test_a_pip_resolution_failure_is_pips_message_and_one_line(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text("print('never')\n")
    (source / "requirements.txt").write_text("flask==0.0.0.0.1\n")
    lines = failing_stage(source, tmp_path, buildpack="python")

    assert any(line.startswith("ERROR: No matching distribution found for flask") for line in lines)
    assert lines[-1] == "-----> pip could not install the packages of requirements.txt (exit 1)"
    assert not any("Traceback" in line for line in lines)
