"""The built-in buildpacks' detect and release scripts (supply is covered by integration tests)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import Lines

from yun.builder.buildpack_sources import BUILTIN_DIR, BUILTINS, Buildpack
from yun.builder.contract import detect, release
from yun.builder.environment import staging_environment

EXAMPLES = Path(__file__).parents[3] / "examples"


def builtin(name: str) -> Buildpack:
    return Buildpack(name=name, path=BUILTIN_DIR / name, cache_key=name)


def first_detected(app: Path) -> str | None:
    env = staging_environment({}, extra={})
    for name in BUILTINS:
        found = detect(builtin(name), build_dir=app, env=env)
        if found is not None:
            return found
    return None


def test_every_builtin_is_a_complete_executable_buildpack() -> None:
    for name in BUILTINS:
        for step in ("detect", "supply", "finalize", "release"):
            script = BUILTIN_DIR / name / "bin" / step
            assert script.is_file(), script
            assert script.stat().st_mode & 0o111, f"{script} is not executable"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"requirements.txt": "flask\n"}, "python"),
        ({"pyproject.toml": "[project]\nname='x'\n"}, "python"),
        ({"app.py": "print(1)\n"}, "python"),
        ({"package.json": "{}", "Procfile": "web: node x.js\n"}, "nodejs"),
        ({"package.json": "{}", "go.mod": "module example.com/x\n"}, "nodejs"),
        ({"go.mod": "module example.com/x\n"}, "go"),
        ({"go.mod": "module example.com/x\n", "index.html": "<p>docs</p>"}, "go"),
        ({"app.jar": "not a zip", "index.html": "<p>hi</p>"}, "static"),
        ({"index.html": "<p>hi</p>"}, "static"),
        ({"Staticfile": "root: public\n"}, "static"),
        ({"Procfile": "web: ./server\n", "server": "#!/bin/sh\n"}, "binary"),
        ({"README": "nothing to run\n"}, None),
    ],
)
def test_detection_of_the_builtins(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert first_detected(tmp_path) == expected


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("hello-python", "python"),
        ("hello-node", "nodejs"),
        ("hello-static", "static"),
        ("crash-at-start", "python"),
    ],
)
def test_examples_are_detected(example: str, expected: str) -> None:
    assert first_detected(EXAMPLES / example) == expected


@pytest.mark.parametrize(
    ("name", "files", "web"),
    [
        ("python", {"app.py": ""}, "python app.py"),
        ("python", {"wsgi.py": ""}, None),
        ("nodejs", {"package.json": '{"scripts": {"start": "node index.js"}}'}, "npm start"),
        ("nodejs", {"package.json": "{}", "server.js": ""}, "node server.js"),
        ("nodejs", {"package.json": "{}"}, None),
        ("static", {"index.html": ""}, "yun-start-nginx"),
        ("binary", {"Procfile": "web: ./x"}, None),
        ("go", {"go.mod": "", ".yun-go-web": "bin/hello\n"}, "./bin/hello"),
        ("go", {"go.mod": ""}, None),
    ],
)
def test_default_web_process(tmp_path: Path, name: str, files: dict[str, str], web: str) -> None:
    if name == "nodejs" and shutil.which("node") is None:
        pytest.skip("node is not on this machine")
    for file, text in files.items():
        (tmp_path / file).write_text(text)
    env = staging_environment({}, extra={})
    types = release(builtin(name), build_dir=tmp_path, env=env, output=Lines())
    assert types.get("web") == web


def write_jar(path: Path, manifest: str | None) -> None:
    with zipfile.ZipFile(path, "w") as jar:
        if manifest is not None:
            jar.writestr("META-INF/MANIFEST.MF", manifest)
        jar.writestr("com/example/Main.class", b"\xca\xfe\xba\xbe\x00\x00\x00\x3d")


MAIN = "Manifest-Version: 1.0\r\nMain-Class: com.example.Main\r\n\r\n"


@pytest.mark.parametrize(
    ("jars", "others", "detected", "web"),
    [
        ({"my app.jar": MAIN}, {}, "java", "java $JAVA_OPTS -jar 'my app.jar'"),
        ({"lib.jar": "Manifest-Version: 1.0\n\n"}, {"index.html": ""}, "static", None),
        ({"lib.jar": None}, {"Procfile": "web: java -cp lib.jar X"}, "binary", None),
        ({"a.jar": MAIN, "b.jar": MAIN}, {}, "java", None),  # which one? the Procfile says
        ({"app.jar": MAIN}, {"requirements.txt": ""}, "python", None),
    ],
)
def test_java_detects_a_packed_executable_jar(
    tmp_path: Path,
    jars: dict[str, str | None],
    others: dict[str, str],
    detected: str,
    web: str | None,
) -> None:
    for name, manifest in jars.items():
        write_jar(tmp_path / name, manifest)
    for name, text in others.items():
        (tmp_path / name).write_text(text)

    assert first_detected(tmp_path) == detected
    if detected == "java":
        env = staging_environment({}, extra={})
        assert (
            release(builtin("java"), build_dir=tmp_path, env=env, output=Lines()).get("web") == web
        )


def test_java_runs_an_exploded_jar_with_its_manifest_class_path(tmp_path: Path) -> None:
    """What `cf push -p app.jar` uploads: the jar's content, the manifest wrapped at 72 bytes."""
    (tmp_path / "META-INF").mkdir()
    (tmp_path / "META-INF" / "MANIFEST.MF").write_text(
        "Manifest-Version: 1.0\nClass-Path: lib/first%20one.jar lib/a-rather-long-library-na\n"
        " me-1.0.jar\nMain-Class: com.example.Main\n\nName: com/example/\nMain-Class: no.Such\n"
    )
    env = staging_environment({}, extra={})

    assert first_detected(tmp_path) == "java"
    types = release(builtin("java"), build_dir=tmp_path, env=env, output=Lines())
    assert types == {
        "web": "java $JAVA_OPTS -cp '.:lib/first one.jar:lib/a-rather-long-library-name-1.0.jar'"
        " com.example.Main"
    }
