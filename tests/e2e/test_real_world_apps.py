"""Apps written the way the world writes them (tests/apps), pushed through the CLI onto a
platform running containers on stacks: each picks the stack its declared runtime version
asks for, stages with that stack's interpreter and answers with its own text."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform, launch
from tests.stacks import built_stack

from yun.server.drivers import runc_missing
from yun.stacks import STACKS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(runc_missing() is not None, reason=str(runc_missing())),
]

APPS = Path(__file__).parents[1] / "apps"
N = random.randrange(1, 250)

# app: (the stack its declaration asks for, the text it answers with)
PYTHON_APPS = {
    "flask-procfile": ("trixie", "Hello World from Flask, started with python app.py"),
    "django-gunicorn": ("testing", "Hello from Django, styles at /static/site."),
    "fastapi-pyproject": ("trixie", '{"message":"Hello from FastAPI"}'),
    "uv-locked": ("bookworm", "Hello from a uv-locked Bottle app on waitress"),
    "pipfile-app": ("bookworm", "Hello from a Pipenv app on gunicorn"),
}


@pytest.fixture(scope="module")
def stacks_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    for name in STACKS:
        built_stack(name)  # built once per machine, not inside a push
    first = random.randrange(34000, 36000, 50)
    env = {
        "YUN_DRIVER": "runc",
        "YUN_SUBNET": f"10.{200 + N % 50}.0.0/16",
        "YUN_BRIDGE": f"yunrw{N}",
        "YUN_SERVICE_PORTS": f"{first}-{first + 49}",
    }
    with launch(tmp_path_factory.mktemp("stacks"), env) as platform:
        yield platform


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(APPS / name, target)
    return target


def _stack_of(platform: Platform, name: str) -> str:
    shown = platform.cli("app", name).stdout
    (line,) = [line for line in shown.splitlines() if line.startswith("stack:")]
    return line.split(":", 1)[1].strip()


@pytest.mark.parametrize("name", sorted(PYTHON_APPS))
def test_a_real_world_python_app_is_pushed_and_answers(
    stacks_platform: Platform, tmp_path: Path, name: str
) -> None:
    stack, text = PYTHON_APPS[name]
    folder = _copy(name, tmp_path)

    pushed = stacks_platform.cli("push", name, "-p", str(folder), timeout=600)

    assert f"Using stack {stack}" in pushed.stdout
    python = STACKS[stack].runtimes["python"].rsplit(".", 1)[0]
    assert f"-----> Using the stack's Python {python}." in pushed.stdout
    stacks_platform.wait_for(name, text, timeout=120)
    assert _stack_of(stacks_platform, name) == stack
    if name == "django-gunicorn":  # its Procfile's release phase ran in a container first
        assert "Running release command: python manage.py check" in pushed.stdout
        assert "System check identified no issues" in pushed.stdout


def test_an_unsatisfiable_python_version_fails_in_one_line_and_the_old_revision_serves(
    stacks_platform: Platform, tmp_path: Path
) -> None:
    folder = _copy("flask-procfile", tmp_path)
    stacks_platform.cli("push", "pinned", "-p", str(folder), timeout=600)
    stacks_platform.wait_for("pinned", "Hello World from Flask")
    (folder / ".python-version").write_text("2.7\n")

    failed = stacks_platform.cli("push", "pinned", "-p", str(folder), check=False, timeout=600)

    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert ".python-version asks for Python 2.7; available: Python 3.13" in said
    assert "Traceback" not in said
    assert stacks_platform.get("pinned").text.startswith("Hello World from Flask")


def test_stacks_lists_runtimes_and_a_named_stack_is_used(
    stacks_platform: Platform, tmp_path: Path
) -> None:
    listed = stacks_platform.cli("stacks").stdout.splitlines()
    rows = {line.split()[0]: line for line in listed[1:]}
    assert set(rows) == set(STACKS)
    assert "Python 3.14" in rows["testing"] and "yes" in rows["trixie"].split()[-1]

    unknown = stacks_platform.cli("stack", "update", "cflinuxfs4", check=False)
    assert unknown.returncode == 1
    assert "there is no stack 'cflinuxfs4' (stacks: bookworm, trixie, testing)" in unknown.stderr

    folder = _copy("flask-procfile", tmp_path)
    pushed = stacks_platform.cli("push", "named", "-p", str(folder), "-s", "bookworm")

    assert "Using stack bookworm (named by the app's manifest)" in pushed.stdout
    stacks_platform.wait_for("named", "Hello World from Flask")
    assert _stack_of(stacks_platform, "named") == "bookworm"


def _jar_built_with_the_stacks_jdk(stack: str, work: Path) -> Path:
    """tests/apps/java-jar compiled and packed by the stack's own javac and jar (in a private
    mount namespace, so the shared stack is not written to)."""
    root = built_stack(stack).rootfs
    source = APPS / "java-jar" / "src" / "main" / "java" / "com" / "example" / "hello" / "App.java"
    work.mkdir()
    shutil.copyfile(source, work / "App.java")
    script = (
        f"mount --bind {work} {root}/tmp && mount -t proc proc {root}/proc"
        f" && chroot {root} javac -d /tmp/classes /tmp/App.java"
        f" && chroot {root} jar --create --file /tmp/app.jar"
        " --main-class com.example.hello.App -C /tmp/classes ."
    )
    subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", script],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return work / "app.jar"


def test_an_executable_jar_is_pushed_as_a_file_and_runs_on_the_stacks_java(
    stacks_platform: Platform, tmp_path: Path
) -> None:
    jar = _jar_built_with_the_stacks_jdk("trixie", tmp_path / "build")

    pushed = stacks_platform.cli("push", "hello-jar", "-p", str(jar), "-m", "512M", timeout=600)

    assert "Using stack trixie (the default)" in pushed.stdout
    java = STACKS["trixie"].runtimes["java"]
    stacks_platform.wait_for("hello-jar", f"Hello from a Java jar on Java {java}", timeout=120)
    assert _stack_of(stacks_platform, "hello-jar") == "trixie"


def test_a_vendored_go_module_builds_with_the_stacks_go(
    stacks_platform: Platform, tmp_path: Path
) -> None:
    folder = _copy("go-vendored", tmp_path)

    pushed = stacks_platform.cli("push", "go-vendored", "-p", str(folder), timeout=900)

    assert "Using stack trixie (the default, Go 1.24.4): go.mod asks for Go >= 1.24" in (
        pushed.stdout
    )
    stacks_platform.wait_for("go-vendored", "Hello from Go and a vendored chi router", timeout=120)
    assert stacks_platform.get("go-vendored", "/version").text.strip() == "go1.24.4"


VITE_PAGE = "<title>Vite on Yun</title>"

NODE_APPS = {
    # app: (the stack its declaration asks for, what staging installs with, its answer)
    "express-engines": ("testing", "npm ci", "Hello World from Express on Yun!"),
    "pnpm-app": (
        "trixie",
        "pnpm install --frozen-lockfile",
        "Hello from Fastify, compiled from TypeScript and installed with pnpm",
    ),
    "yarn-app": ("trixie", "yarn", "<h1>Hello from Koa, installed with yarn</h1>"),
    "vite-static": ("trixie", "npm ci", VITE_PAGE),
}


@pytest.mark.parametrize("name", sorted(NODE_APPS))
def test_a_real_world_node_app_is_pushed_and_answers(
    stacks_platform: Platform, tmp_path: Path, name: str
) -> None:
    stack, installer, text = NODE_APPS[name]
    folder = _copy(name, tmp_path)

    pushed = stacks_platform.cli("push", name, "-p", str(folder), timeout=900)

    assert f"Using stack {stack}" in pushed.stdout
    node = STACKS[stack].runtimes["node"]
    assert f"Using the stack's Node.js v{node}" in pushed.stdout
    assert installer in pushed.stdout
    answer = stacks_platform.wait_for(name, text, timeout=120)
    assert _stack_of(stacks_platform, name) == stack
    if name == "vite-static":  # the built page (hashed bundle), served by nginx
        assert "/assets/index-" in answer.text and "/src/main.js" not in answer.text


def test_an_unsatisfiable_node_version_fails_in_one_line_and_the_old_revision_serves(
    stacks_platform: Platform, tmp_path: Path
) -> None:
    folder = _copy("express-engines", tmp_path)
    stacks_platform.cli("push", "pinned-node", "-p", str(folder), timeout=600)
    stacks_platform.wait_for("pinned-node", "Hello World from Express on Yun!")
    package = folder / "package.json"
    package.write_text(package.read_text().replace('"22.x || 24.x"', '"^8"'))

    failed = stacks_platform.cli("push", "pinned-node", "-p", str(folder), check=False)

    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert "package.json engines.node asks for Node.js ^8; available: Node.js 20." in said
    assert "Traceback" not in said
    assert stacks_platform.get("pinned-node").text.startswith("Hello World from Express on Yun!")
