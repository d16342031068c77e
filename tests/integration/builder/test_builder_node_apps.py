"""Node.js apps written the way the world writes them (tests/apps), staged with the real nodejs
buildpack (the stack's npm; pnpm and Yarn through corepack or from the npm registry) and run from
a relocated droplet: each answers with its own text. These stagings download from the npm
registry, as a user's would."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from tests.integration.builder.builder_running import failing_stage as stage_failing
from tests.integration.builder.builder_running import get, running, stage_app, wait_for_http

from yun.builder import StagingError, unpack_droplet

pytestmark = pytest.mark.integration

APPS = Path(__file__).parents[2] / "apps"
HAS_COREPACK = shutil.which("corepack") is not None
# npm, pnpm and Yarn 1 read these: every download fails at once, only caches can serve.
NO_NETWORK = {
    "npm_config_proxy": "http://127.0.0.1:9",
    "npm_config_https_proxy": "http://127.0.0.1:9",
    "npm_config_fetch_retries": "0",
}

CASES = {
    # app: (the installer staging names, what its dev dependencies include, the answer's text)
    "express-engines": ("npm ci", "nodemon", "Hello World from Express on Yun!\n"),
    "pnpm-app": (
        "pnpm install --frozen-lockfile",
        "typescript",
        "Hello from Fastify, compiled from TypeScript and installed with pnpm\n",
    ),
    "yarn-app": (
        "yarn install --frozen-lockfile",
        "sass",
        '<!doctype html><link rel="stylesheet" href="/site.css">'
        "<h1>Hello from Koa, installed with yarn</h1>\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_real_world_node_app_serves_with_npm_start(name: str, tmp_path: Path) -> None:
    installer, dev_dependency, text = CASES[name]
    staged = stage_app(APPS / name, tmp_path)

    assert staged.result.detected == "nodejs"
    assert f"-----> Installing dependencies with {installer}" in staged.lines
    assert staged.result.process_types == {"web": "npm start"}
    assert not any("names the staging folder" in line for line in staged.lines)
    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, "npm start") as app:
        response = wait_for_http(app, timeout=60)
        assert response.status_code == 200, app.logs()
        assert response.text == text
    modules = root / "app" / "node_modules"
    assert not (modules / dev_dependency).exists()
    assert naming(root / "app", tmp_path / "work") == []


def naming(folder: Path, staging: Path) -> list[Path]:
    """Files under `folder` that name the (deleted) staging folder."""
    needle = str(staging).encode()
    files = (path for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
    return [path for path in files if needle in path.read_bytes()]


ENGINES = "22.x || 24.x"


def test_engines_node_is_reported_not_enforced(tmp_path: Path) -> None:
    staged = stage_app(APPS / "express-engines", tmp_path)

    assert any(
        line.startswith(
            "-----> Note: package.json asks for Node.js 22.x || 24.x; this stack provides v"
        )
        for line in staged.lines
    )
    assert "-----> Running the build script" not in staged.text  # no build: dev deps never came


@pytest.mark.skipif(not HAS_COREPACK, reason="the host's Node.js has no corepack")
def test_pnpm_through_corepack_builds_then_prunes_dev_dependencies(tmp_path: Path) -> None:
    staged = stage_app(APPS / "pnpm-app", tmp_path)

    assert (
        "-----> Using pnpm 10.34.9 through corepack (packageManager in package.json;"
        " downloaded into the build cache)" in staged.lines
    )
    assert "Done in" in staged.text and "using pnpm v10.34.9" in staged.text
    assert (tmp_path / "cache" / "nodejs" / "corepack" / "v1" / "pnpm" / "10.34.9").is_dir()
    assert not (tmp_path / "cache" / "nodejs" / "tools").exists()
    assert "-----> Running the build script: tsc" in staged.lines
    assert "-----> Pruning dev dependencies" in staged.lines
    app_dir = tmp_path / "unpacked" / "app"
    unpack_droplet(staged.droplet, app_dir.parent)
    assert (app_dir / "dist" / "server.js").is_file()
    assert (app_dir / "node_modules" / "fastify").is_dir()
    assert not (app_dir / "node_modules" / "typescript").exists()
    assert not list((app_dir / "node_modules" / ".pnpm").glob("typescript@*"))


def test_without_corepack_pnpm_is_installed_with_npm_once_then_restaged_offline(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    env = {"YUN_COREPACK": "0"}
    first = stage_app(APPS / "pnpm-app", tmp_path, cache=cache, label="-1", env=env)
    assert (
        "-----> Installing pnpm 10.34.9 from the npm registry with npm"
        " (packageManager in package.json)" in first.lines
    )
    assert (cache / "nodejs" / "tools" / "pnpm@10.34.9" / "bin" / "pnpm").exists()
    assert not (cache / "nodejs" / "corepack").exists()

    second = stage_app(
        APPS / "pnpm-app", tmp_path, cache=cache, label="-2", env={**env, **NO_NETWORK}
    )

    assert (
        "-----> Using pnpm 10.34.9 from the build cache (packageManager in package.json;"
        " installed with npm)" in second.lines
    )
    assert unchanged("pnpm-lock.yaml") in second.lines
    assert "reused 51, downloaded 0" in second.text
    with running(second.droplet, tmp_path / "elsewhere", "npm start") as app:
        assert wait_for_http(app, timeout=60).text == CASES["pnpm-app"][2]


def unchanged(lockfile: str) -> str:
    return (
        f"-----> {lockfile} is unchanged since the last staging:"
        " installing offline from the build cache"
    )


@pytest.mark.parametrize(
    ("name", "lockfile"),
    [
        ("express-engines", "package-lock.json"),
        ("yarn-app", "yarn.lock"),
    ],
)
def test_a_restage_with_an_unchanged_lockfile_installs_offline_from_the_cache(
    name: str, lockfile: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = stage_app(APPS / name, tmp_path, cache=cache, label="-1")
    assert unchanged(lockfile) not in first.lines

    second = stage_app(APPS / name, tmp_path, cache=cache, label="-2", env=NO_NETWORK)

    assert unchanged(lockfile) in second.lines
    assert "-----> The build cache lacks some packages; installing from the registry" not in (
        second.lines
    )
    with running(second.droplet, tmp_path / "elsewhere", "npm start") as app:
        assert wait_for_http(app, timeout=60).text == CASES[name][2]


def test_without_the_cache_the_blocked_network_fails_the_install(tmp_path: Path) -> None:
    """The control for the offline restage: NO_NETWORK does block npm."""
    with pytest.raises(StagingError, match=r"^buildpack nodejs: bin/supply exited with 1$"):
        stage_app(APPS / "express-engines", tmp_path, env=NO_NETWORK)


def test_yarn_classic_runs_the_sass_build_and_keeps_only_production_packages(
    tmp_path: Path,
) -> None:
    staged = stage_app(APPS / "yarn-app", tmp_path)

    tool_lines = (
        "-----> Using yarn 1.22.22 through corepack (the default for yarn.lock v1;",
        "-----> Installing yarn 1.22.22 from the npm registry with npm (the default for yarn.lock",
    )
    assert any(line.startswith(tool_lines) for line in staged.lines)
    assert (
        "-----> Running the build script: sass --no-source-map styles/site.scss public/site.css"
        in staged.lines
    )
    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, "npm start") as app:
        wait_for_http(app, timeout=60)
        assert get(app, "/site.css").text.startswith("body {\n  font-family: system-ui")
    modules = root / "app" / "node_modules"
    assert (modules / "koa").is_dir()
    assert not (modules / "sass").exists()


def test_vite_builds_with_node_then_nginx_serves_dist(tmp_path: Path) -> None:
    manifest = yaml.safe_load((APPS / "vite-static" / "manifest.yml").read_text())
    buildpacks = manifest["applications"][0]["buildpacks"]
    staged = stage_app(APPS / "vite-static", tmp_path, buildpacks=buildpacks)

    assert staged.result.buildpacks == ["nodejs", "static"]
    assert "-----> Installing dependencies with npm ci" in staged.lines
    assert "-----> Running the build script: vite build" in staged.lines
    assert "-----> Serving the folder dist" in staged.lines
    assert staged.result.process_types == {"web": "yun-start-nginx"}
    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, "yun-start-nginx") as app:
        page = wait_for_http(app)
        assert page.status_code == 200
        assert "<title>Vite on Yun</title>" in page.text
        script = re.search(r'src="(/assets/index-[\w-]+\.js)"', page.text)
        assert script is not None, page.text
        assert "Hello Vite, built on Yun!" in get(app, script.group(1)).text
        assert get(app, "/package.json").status_code == 404
        assert get(app, "/src/main.js").status_code == 404
    assert not (root / "app" / "node_modules" / "vite").exists()


def failing_stage(source: Path, tmp_path: Path) -> list[str]:
    lines = stage_failing(source, tmp_path, buildpack="nodejs")
    ours = str(tmp_path / "work" / "buildpacks")  # a stack trace of the buildpack's own code
    assert not any("Traceback" in line or ours in line for line in lines)
    return lines


def test_a_lockfile_out_of_step_with_package_json_is_npms_message_and_one_line(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    shutil.copytree(APPS / "express-engines", source)
    package = (source / "package.json").read_text()
    (source / "package.json").write_text(
        package.replace('"express": "^5.3.0"', '"express": "^5.3.0", "left-pad": "1.3.0"')
    )

    lines = failing_stage(source, tmp_path)

    assert "npm error Missing: left-pad@1.3.0 from lock file" in lines
    assert lines[-1] == "-----> npm ci failed (exit 1); its output is above"


def test_a_broken_pnpm_lockfile_is_pnpms_message_and_one_line(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(APPS / "pnpm-app", source)
    lock = source / "pnpm-lock.yaml"
    lock.write_text(lock.read_text().replace("  fastify@5.12.8:\n", "  fastify@5.12.7:\n"))

    lines = failing_stage(source, tmp_path)

    assert any("ERR_PNPM_LOCKFILE_MISSING_DEPENDENCY" in line for line in lines)
    assert lines[-1] == "-----> pnpm install --frozen-lockfile failed (exit 1); its output is above"


def test_a_failing_build_is_the_tools_message_and_one_line(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(APPS / "vite-static", source)
    (source / "src" / "counter.js").write_text("export function setupCounter( {\n")

    lines = failing_stage(source, tmp_path)

    assert "-----> Running the build script: vite build" in lines
    assert any("counter.js" in line for line in lines)
    assert lines[-1] == "-----> The build script failed (exit 1); its output is above"
    assert "-----> Pruning dev dependencies" not in lines


# A Yarn 4 project as `yarn install` leaves it (Plug'n'Play, the default linker).
BERRY_LOCK = """\
# This file is generated by running "yarn install" inside your project.
# Manual changes might be lost - proceed with caution!

__metadata:
  version: 10
  cacheKey: 10c0

"berry-app@workspace:.":
  version: 0.0.0-use.local
  resolution: "berry-app@workspace:."
  dependencies:
    left-pad: "npm:1.3.0"
    ms: "npm:2.1.3"
  languageName: unknown
  linkType: soft

"left-pad@npm:1.3.0":
  version: 1.3.0
  resolution: "left-pad@npm:1.3.0"
  checksum: 10c0/3fb59c76e281a2f5c810ad71dbbb8eba8b10c6cf94733dc7f27b8c516a5376cacea53543e76f6ae477d866c8954b27f1e15ca349424c2542474eb5bb1d2b6955
  languageName: node
  linkType: hard

"ms@npm:2.1.3":
  version: 2.1.3
  resolution: "ms@npm:2.1.3"
  checksum: 10c0/d924b57e7312b3b63ad21fc5b3dc0af5e78d61a1fc7cfb5457edaf26326bf62be5307cc87ffb6862ef1c2b33b0233cdb5d4f01c4c958cc0d660948b65a287a48
  languageName: node
  linkType: hard
"""  # noqa: E501
BERRY_PACKAGE = """{
  "name": "berry-app",
  "private": true,
  "packageManager": "yarn@4.18.1",
  "scripts": {"start": "node index.js", "build": "node -e \\"require('left-pad')\\""},
  "dependencies": {"ms": "2.1.3"},
  "devDependencies": {"left-pad": "1.3.0"}
}
"""
BERRY_INDEX = """const http = require('http'); const ms = require('ms');
http.createServer((q, r) => r.end(`two days = ${ms('2 days')} ms\\n`))
  .listen(Number(process.env.PORT), process.env.VCAP_APP_HOST);
"""


def test_yarn_berry_plug_n_play_app_runs_from_its_droplet(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "package.json").write_text(BERRY_PACKAGE)
    (source / "yarn.lock").write_text(BERRY_LOCK)
    (source / "index.js").write_text(BERRY_INDEX)

    staged = stage_app(source, tmp_path)

    assert "-----> Installing dependencies with yarn install --immutable" in staged.lines
    assert "-----> Pruning dev dependencies" in staged.lines
    root = tmp_path / "elsewhere"
    with running(staged.droplet, root, staged.result.process_types["web"]) as app:
        assert wait_for_http(app, timeout=60).text == "two days = 172800000 ms\n"
    assert not (root / "app" / "node_modules").exists()
    assert list((root / "app" / ".yarn" / "cache").glob("ms-npm-2.1.3-*.zip"))
    assert "left-pad" not in (root / "app" / ".pnp.cjs").read_text()


def test_without_a_start_script_the_file_main_names_runs(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "package.json").write_text('{"name": "plain", "main": "lib/app.js"}')
    (source / "lib" / "app.js").write_text(
        "require('http').createServer((q, r) => r.end('main ran\\n'))"
        ".listen(Number(process.env.PORT), process.env.VCAP_APP_HOST);\n"
    )

    staged = stage_app(source, tmp_path)

    assert staged.result.process_types == {"web": "node lib/app.js"}
    with running(staged.droplet, tmp_path / "elsewhere", "node lib/app.js") as app:
        assert wait_for_http(app).text == "main ran\n"
