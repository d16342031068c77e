"""The buildpack contract as `stage` drives it, with fake buildpacks in temporary folders."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import (
    RELEASE_WEB,
    Lines,
    make_app,
    make_buildpack,
    make_request,
)

from yun.builder import StagingError, stage, unpack_droplet

# Each fake step appends "step args..." to a log in the app, so the droplet tells what ran.
LOG_ARGS = 'echo "$(basename "$0") $*" >> "$1/steps.log"'


def logged_steps(droplet: Path, tmp_path: Path) -> list[str]:
    unpack_droplet(droplet, tmp_path / "out")
    return (tmp_path / "out" / "app" / "steps.log").read_text().splitlines()


def test_detection_runs_in_order_and_first_acceptance_wins(tmp_path: Path) -> None:
    bps = tmp_path / "bps"
    no = make_buildpack(bps, "no", detect="exit 1", finalize="exit 9")
    yes = make_buildpack(bps, "yes", detect="echo 'Yes Runtime'", finalize=LOG_ARGS)
    later = make_buildpack(bps, "later", detect="exit 0", finalize="exit 9")
    app = make_app(tmp_path)
    request = make_request(tmp_path, app=app, detect_order=[str(no), str(yes), str(later)])
    out = Lines()

    result = stage(request, output=out)

    assert result.buildpacks == ["yes"]
    assert result.detected == "Yes Runtime"
    assert "-----> Detected buildpack: Yes Runtime" in out.lines


def test_nothing_detected_names_every_buildpack_tried(tmp_path: Path) -> None:
    bps = tmp_path / "bps"
    first = make_buildpack(bps, "first", detect="exit 1")
    second = make_buildpack(bps, "second", detect="exit 1")
    request = make_request(tmp_path, app=make_app(tmp_path), detect_order=[str(first), str(second)])

    expected = r"^no buildpack detected this app \(tried first, second\)$"
    with pytest.raises(StagingError, match=expected):
        stage(request, output=Lines())


def test_named_buildpacks_skip_detection(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "picky", detect="exit 1", finalize=LOG_ARGS)
    result = stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp]), output=Lines())
    assert result.buildpacks == ["picky"]
    assert logged_steps(result.droplet, tmp_path)[0].startswith("finalize ")


def test_multi_buildpack_supplies_then_finalizes_with_deps_indices(tmp_path: Path) -> None:
    bps = tmp_path / "bps"
    marker = 'echo "$(basename "$(dirname "$(dirname "$0")")")" > "$3/$4/supplied-by"'
    first = make_buildpack(bps, "first", supply=f"{LOG_ARGS}\n{marker}", finalize="exit 9")
    second = make_buildpack(bps, "second", supply=f"{LOG_ARGS}\n{marker}", finalize="exit 9")
    last = make_buildpack(
        bps, "last", supply=f"{LOG_ARGS}\n{marker}", finalize=LOG_ARGS, release=RELEASE_WEB
    )
    request = make_request(tmp_path, app=make_app(tmp_path), buildpacks=[first, second, last])

    result = stage(request, output=Lines())

    assert result.buildpacks == ["first", "second", "last"]
    assert result.detected == "last"
    steps = logged_steps(result.droplet, tmp_path)
    assert [line.split()[0] for line in steps] == ["supply", "supply", "supply", "finalize"]
    assert [line.split()[-1] for line in steps] == ["0", "1", "2", "2"]
    work = request.work_dir
    build, deps = str(work / "app"), str(work / "deps")
    assert steps[0].split()[1] == build
    assert steps[0].split()[3] == deps
    caches = [Path(line.split()[2]) for line in steps]
    assert [c.parent for c in caches] == [request.cache_dir] * 4
    assert [c.name.split("-")[0] for c in caches] == ["first", "second", "last", "last"]
    for index in range(3):
        assert (tmp_path / "out" / "deps" / str(index) / "supplied-by").is_file()
    assert result.process_types == {"web": "./run-me"}


def test_each_buildpack_gets_its_own_persistent_cache(tmp_path: Path) -> None:
    bp = make_buildpack(
        tmp_path / "bps",
        "counter",
        finalize='n=$(cat "$2/count" 2>/dev/null || echo 0); echo $((n + 1)) > "$2/count"',
    )
    app = make_app(tmp_path)
    for attempt in (1, 2):
        work = tmp_path / f"work{attempt}"
        request = make_request(tmp_path, app=app, buildpacks=[bp])
        request = type(request)(**{**request.__dict__, "work_dir": work})
        stage(request, output=Lines())
    [cache] = (tmp_path / "cache").iterdir()
    assert cache.name.startswith("counter-")
    assert (cache / "count").read_text().strip() == "2"


def test_final_buildpack_without_finalize_falls_back_to_heroku_compile(tmp_path: Path) -> None:
    compile_body = f'{LOG_ARGS}\necho "$(cat "$3/GREETING")" > "$1/greeting"'
    bp = make_buildpack(tmp_path / "bps", "heroku", compile=compile_body, release=RELEASE_WEB)
    request = make_request(
        tmp_path, app=make_app(tmp_path), buildpacks=[bp], env={"GREETING": "ni hao"}
    )
    out = Lines()

    result = stage(request, output=out)

    steps = logged_steps(result.droplet, tmp_path)
    env_dir = str(request.work_dir / "env")
    [(step, build, cache, env_arg)] = [line.split() for line in steps]
    assert (step, build, env_arg) == ("compile", str(request.work_dir / "app"), env_dir)
    assert Path(cache).parent == request.cache_dir
    assert (tmp_path / "out" / "app" / "greeting").read_text() == "ni hao\n"
    assert "-----> Compiling with buildpack heroku" in out.lines


def test_heroku_buildpack_before_the_last_compiles_and_exports_env(tmp_path: Path) -> None:
    bps = tmp_path / "bps"
    first = make_buildpack(
        bps, "tooling", compile='echo "export TOOL_HOME=/opt/tool" > "$(dirname "$0")/../export"'
    )
    last = make_buildpack(bps, "app", finalize='echo "$TOOL_HOME" > "$1/tool-home"')
    result = stage(
        make_request(tmp_path, app=make_app(tmp_path), buildpacks=[first, last]), output=Lines()
    )
    unpack_droplet(result.droplet, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "tool-home").read_text() == "/opt/tool\n"


def test_non_final_buildpack_needs_supply(tmp_path: Path) -> None:
    bps = tmp_path / "bps"
    first = make_buildpack(bps, "final-only", finalize="true")
    last = make_buildpack(bps, "last", finalize="true")
    request = make_request(tmp_path, app=make_app(tmp_path), buildpacks=[first, last])
    with pytest.raises(StagingError, match="final-only: cannot be a non-final buildpack"):
        stage(request, output=Lines())


def test_procfile_overrides_release_per_process_type(tmp_path: Path) -> None:
    release = "echo '---'; printf 'default_process_types:\\n  web: default-web\\n  clock: tick\\n'"
    bp = make_buildpack(tmp_path / "bps", "bp", finalize="true", release=release)
    app = make_app(tmp_path, {"Procfile": "# comment\nweb: gunicorn app:app -b :$PORT\n\n"})

    result = stage(make_request(tmp_path, app=app, buildpacks=[bp]), output=Lines())

    assert result.process_types == {"web": "gunicorn app:app -b :$PORT", "clock": "tick"}
    assert result.start_command == "gunicorn app:app -b :$PORT"


def test_invalid_release_yaml_is_a_staging_error(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "bad", finalize="true", release="echo 'a: [unclosed'")
    with pytest.raises(StagingError, match="buildpack bad: bin/release printed invalid YAML"):
        stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp]), output=Lines())


def test_droplet_layout_staging_info_and_profile_scripts(tmp_path: Path) -> None:
    finalize = "\n".join(
        [
            'mkdir -p "$1/.profile.d" "$3/$4/profile.d"',
            'echo "export FROM_APP=1" > "$1/.profile.d/app.sh"',
            'echo "export FROM_DEPS=\\$DEPS_DIR/$4" > "$3/$4/profile.d/deps.sh"',
        ]
    )
    bp = make_buildpack(tmp_path / "bps", "bp", finalize=finalize, release=RELEASE_WEB)
    result = stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp]), output=Lines())

    assert result.droplet.parent == tmp_path / "work"
    with tarfile.open(result.droplet) as tar:
        names = tar.getnames()
    assert all(not name.startswith("/") for name in names)
    assert {"app/index.txt", "app/.profile.d/app.sh", "deps/0/profile.d/deps.sh"} <= set(names)
    info = unpack_droplet(result.droplet, tmp_path / "out")
    assert info == {
        "detected_buildpack": "bp",
        "start_command": "./run-me",
        "process_types": {"web": "./run-me"},
        "buildpacks": ["bp"],
    }
    assert json.loads((tmp_path / "out" / "staging_info.json").read_text()) == info


def test_source_bits_are_copied_not_changed(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "bp", finalize='rm "$1/index.txt"; touch "$1/new"')
    app = make_app(tmp_path)
    stage(make_request(tmp_path, app=app, buildpacks=[bp]), output=Lines())
    assert sorted(p.name for p in app.iterdir()) == ["index.txt"]


def test_warns_when_a_profile_script_names_the_staging_folder(tmp_path: Path) -> None:
    finalize = 'mkdir -p "$3/$4/profile.d"; echo "export X=$3/$4" > "$3/$4/profile.d/x.sh"'
    bp = make_buildpack(tmp_path / "bps", "sloppy", finalize=finalize)
    out = Lines()
    stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp]), output=out)
    assert any("deps/0/profile.d/x.sh names the staging folder" in line for line in out.lines)
