"""Java and Go apps staged with the real java and go buildpacks, run from a relocated droplet.

Java: tests/apps/java-jar is compiled and packed into an executable jar by the host's JDK (no jar
is kept in the repository), then pushed as a folder holding app.jar and as the exploded jar that
`cf push -p app.jar` uploads; the JVM's heap comes from MEMORY_LIMIT. Go: tests/apps/go-vendored
builds from its vendor/ folder while a recording GOPROXY proves nothing was fetched; a module
with no requirements builds too; compiler and toolchain errors end staging in one line.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.integration.builder.builder_running import get, running, stage_app, wait_for_http

from yun.builder import StagingError, StagingRequest, stage
from yun.builder.buildpack_sources import BUILTIN_DIR
from yun.builder.environment import STACK_PATH

pytestmark = pytest.mark.integration

APPS = Path(__file__).parents[2] / "apps"
JAVA_SOURCE = APPS / "java-jar" / "src" / "main" / "java" / "com" / "example" / "hello" / "App.java"
MAIN_CLASS = "com.example.hello.App"


def stage_failing(
    source: Path, tmp_path: Path, *, cache: Path, env: Mapping[str, str] | None = None
) -> tuple[str, list[str]]:
    """Stage an app that must fail: (the one-line error, every line staging printed)."""
    lines: list[str] = []
    request = StagingRequest(
        source_dir=source, work_dir=tmp_path / "work", cache_dir=cache, buildpacks=[], env=env or {}
    )
    with pytest.raises(StagingError) as failure:
        stage(request, output=lines.append)
    return str(failure.value), lines


def need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not on this machine")


# --- Java ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/apps/java-jar as an executable jar, built by the host's javac and jar."""
    need("java", "javac", "jar")
    build = tmp_path_factory.mktemp("java-build")
    classes = build / "classes"
    subprocess.run(["javac", "--release", "17", "-d", str(classes), str(JAVA_SOURCE)], check=True)
    jar = build / "app.jar"
    command = ["jar", "--create", "--file", str(jar), "--main-class", MAIN_CLASS]
    subprocess.run([*command, "-C", str(classes), "."], check=True)
    return jar


def jar_folder(jar: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copyfile(jar, folder / "app.jar")
    return folder


def java_version() -> str:
    done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=True)
    found = re.search(r'version "([^"]+)"', done.stderr)
    assert found, done.stderr
    return found.group(1)


def java_feature() -> int:
    return int(java_version().removeprefix("1.").split(".")[0])


def test_a_folder_holding_an_executable_jar_runs_with_its_heap_from_the_limit(
    app_jar: Path, tmp_path: Path
) -> None:
    staged = stage_app(jar_folder(app_jar, tmp_path / "src"), tmp_path)

    assert staged.result.detected == "java"
    assert staged.result.process_types == {"web": "java $JAVA_OPTS -jar app.jar"}
    assert any(line.startswith("-----> Using the stack's Java ") for line in staged.lines)
    assert f"-----> Executable jar: app.jar, main class {MAIN_CLASS}, built for Java 17" in (
        staged.lines
    )
    with running(
        staged.droplet,
        tmp_path / "elsewhere",
        staged.result.start_command,
        env={"MEMORY_LIMIT": "512m"},
    ) as app:
        response = wait_for_http(app)
        assert response.status_code == 200, app.logs()
        assert response.text == f"Hello from a Java jar on Java {java_feature()}\n"
        memory = get(app, "/memory").text
    flags = memory.split("flags: ")[1].split()
    assert "-Xmx384M" in flags  # 3/4 of 512m
    assert "-XX:MaxMetaspaceSize=64M" in flags
    assert "-XX:+ExitOnOutOfMemoryError" in flags
    max_heap = int(memory.split("max heap: ")[1].split()[0])
    assert 300 < max_heap <= 384, memory


def test_an_exploded_jar_as_cf_push_uploads_it_runs_from_its_manifest(
    app_jar: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    with zipfile.ZipFile(app_jar) as jar:
        jar.extractall(source)

    staged = stage_app(source, tmp_path)

    assert staged.result.detected == "java"
    assert staged.result.start_command == f"java $JAVA_OPTS -cp . {MAIN_CLASS}"
    command = staged.result.start_command
    env = {"MEMORY_LIMIT": "1G"}
    with running(staged.droplet, tmp_path / "elsewhere", command, env=env) as app:
        assert wait_for_http(app).text.startswith("Hello from a Java jar on Java ")
        flags = get(app, "/memory").text.split("flags: ")[1].split()
    assert "-Xmx768M" in flags


def test_a_heap_set_in_java_opts_wins_over_the_computed_one(app_jar: Path, tmp_path: Path) -> None:
    staged = stage_app(jar_folder(app_jar, tmp_path / "src"), tmp_path)
    env = {"MEMORY_LIMIT": "512m", "JAVA_OPTS": "-Xmx200m -Dgreeting=hi"}

    with running(
        staged.droplet, tmp_path / "elsewhere", staged.result.start_command, env=env
    ) as app:
        wait_for_http(app)
        memory = get(app, "/memory").text
    flags = memory.split("flags: ")[1].split()
    assert "-Xmx200m" in flags and "-Dgreeting=hi" in flags
    assert not any(flag.startswith("-Xmx3") for flag in flags)
    assert "-XX:MaxMetaspaceSize=64M" in flags  # the flags JAVA_OPTS did not set are still added
    assert int(memory.split("max heap: ")[1].split()[0]) <= 200


def test_a_jar_for_a_newer_java_fails_staging_in_one_line(app_jar: Path, tmp_path: Path) -> None:
    newer = java_feature() + 1
    source = tmp_path / "src"
    source.mkdir()
    member = MAIN_CLASS.replace(".", "/") + ".class"
    with zipfile.ZipFile(app_jar) as old, zipfile.ZipFile(source / "app.jar", "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == member:
                data = data[:6] + (newer + 44).to_bytes(2, "big") + data[8:]
            new.writestr(item, data)

    error, lines = stage_failing(source, tmp_path, cache=tmp_path / "cache")

    assert error == "buildpack java: bin/finalize exited with 1"
    assert lines[-1] == (
        f"-----> app.jar needs Java {newer} (class file version {newer + 44});"
        f" this stack has Java {java_version()}"
    )


def test_without_java_supply_says_so_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [
            str(BUILTIN_DIR / "java" / "bin" / "supply"),
            str(tmp_path),
            str(tmp_path),
            str(tmp_path),
            "0",
        ],
        env={"PATH": str(empty)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert (
        done.stdout == "-----> java is not on this stack (apt-get install default-jre-headless)\n"
    )
    assert done.stderr == ""


# --- Go --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def go_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build cache for the Go stagings of this module: the standard library compiles once."""
    need("go")
    return tmp_path_factory.mktemp("go-cache")


class Recorder(BaseHTTPRequestHandler):
    """A GOPROXY (and HTTP proxy) that has nothing: it answers 404 and remembers every request."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_error(404)

    do_CONNECT = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def proxy_env(url: str) -> dict[str, str]:
    """Every way go could reach the network leads to the recorder; GOTOOLCHAIN=auto would fetch
    a newer toolchain if the buildpack did not pin the stack's."""
    return {
        "GOPROXY": url,
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "NO_PROXY": "",
        "GOTOOLCHAIN": "auto",
    }


def test_a_vendored_go_module_builds_without_the_network_and_serves(
    go_cache: Path, tmp_path: Path
) -> None:
    with recording_proxy() as (url, seen):
        staged = stage_app(APPS / "go-vendored", tmp_path, cache=go_cache, env=proxy_env(url))
    assert seen == []

    assert staged.result.detected == "go"
    assert staged.result.process_types == {"web": "./bin/go-vendored"}
    assert any(line.startswith("-----> Using the stack's Go ") for line in staged.lines)
    assert (
        "-----> Building with the vendored modules (vendor/); nothing is downloaded (GOPROXY=off)"
        in staged.lines
    )
    assert not any("names the staging folder" in line for line in staged.lines)
    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, staged.result.start_command) as app:
        response = wait_for_http(app)
        assert response.status_code == 200, app.logs()
        assert response.text == "Hello from Go and a vendored chi router\n"
        assert get(app, "/hello/yun").text == "Hello, yun!\n"
    assert (
        str(tmp_path / "work").encode() not in (root / "app" / "bin" / "go-vendored").read_bytes()
    )


def test_without_its_vendor_folder_the_same_module_would_fetch(
    go_cache: Path, tmp_path: Path
) -> None:
    """The control for the test above: the recorder does see go's requests when there are any."""
    source = tmp_path / "src"
    shutil.copytree(APPS / "go-vendored", source, ignore=shutil.ignore_patterns("vendor"))
    with recording_proxy() as (url, seen):
        error, lines = stage_failing(source, tmp_path, cache=go_cache, env=proxy_env(url))
    assert error == "buildpack go: bin/finalize exited with 1"
    assert any("github.com/go-chi/chi" in request for request in seen), seen
    assert any(url in line and "404 Not Found" in line for line in lines), lines


def test_a_go_module_without_requirements_builds_its_command(
    go_cache: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "cmd" / "greeter").mkdir(parents=True)
    (source / "go.mod").write_text("module example.com/greeting\n\ngo 1.22\n")
    (source / "greeting.go").write_text(
        'package greeting\n\nfunc Text() string { return "Hello from a Go module with no'
        ' requirements" }\n'
    )
    (source / "cmd" / "greeter" / "main.go").write_text(
        "package main\n\n"
        'import (\n\t"fmt"\n\t"net/http"\n\t"os"\n\n\t"example.com/greeting"\n)\n\n'
        "func main() {\n"
        '\thttp.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {\n'
        "\t\tfmt.Fprintln(w, greeting.Text())\n\t})\n"
        '\tpanic(http.ListenAndServe(":"+os.Getenv("PORT"), nil))\n}\n'
    )
    with recording_proxy() as (url, seen):
        staged = stage_app(source, tmp_path, cache=go_cache, env=proxy_env(url))
    assert seen == []

    assert "-----> The module requires no other modules; nothing is downloaded (GOPROXY=off)" in (
        staged.lines
    )
    assert staged.result.process_types == {"web": "./bin/greeter"}
    with running(staged.droplet, tmp_path / "elsewhere", staged.result.start_command) as app:
        assert wait_for_http(app).text == "Hello from a Go module with no requirements\n"


def test_a_broken_go_program_fails_with_the_compilers_message_and_one_line(
    go_cache: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "go.mod").write_text("module example.com/broken\n\ngo 1.22\n")
    (source / "main.go").write_text("package main\n\nfunc main() {\n\tundefinedThing()\n}\n")
    error, lines = stage_failing(source, tmp_path, cache=go_cache)

    assert error == "buildpack go: bin/finalize exited with 1"
    assert "./main.go:4:2: undefined: undefinedThing" in lines
    assert lines[-1] == "-----> go build failed (exit 1)"


def test_a_go_directive_newer_than_the_stacks_go_fails_in_one_line(
    go_cache: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "go.mod").write_text("module example.com/future\n\ngo 1.999\n")
    (source / "main.go").write_text("package main\n\nfunc main() {}\n")
    with recording_proxy() as (url, seen):
        error, lines = stage_failing(source, tmp_path, cache=go_cache, env=proxy_env(url))

    assert error == "buildpack go: bin/finalize exited with 1"
    assert seen == []  # no other toolchain was looked for
    toolchain = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    version = toolchain.removeprefix("go")
    assert f"go: go.mod requires go >= 1.999 (running go {version}; GOTOOLCHAIN=local)" in lines
    assert (
        lines[-1]
        == f"-----> go.mod asks for Go 1.999; this stack has Go {version} (GOTOOLCHAIN=local)"
    )


def test_without_go_staging_says_so_in_one_line(tmp_path: Path) -> None:
    stack_path = ":".join(STACK_PATH)
    if shutil.which("go", path=stack_path) is not None:
        pytest.skip("go is on the stack's own PATH here; it cannot be hidden")
    error, lines = stage_failing(
        APPS / "go-vendored", tmp_path, cache=tmp_path / "cache", env={"PATH": stack_path}
    )

    assert error == "buildpack go: bin/supply exited with 1"
    assert lines[-1] == "-----> go is not on this stack (apt-get install golang-go)"
