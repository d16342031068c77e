"""Staging in containers: buildpacks and hooks run in runc containers that see the host stack
read-only, only the staging's own folders writable, their own processes, and a network that
reaches package indexes but not the host's services."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from tests.integration.agent_network.network_world import HostServer
from tests.integration.builder.builder_running import EXAMPLES

from yun.agent.drivers.oci import ID_BASE
from yun.agent.drivers.runc_staging import RuncStaging
from yun.agent.network import CniNetwork, create_netns, delete_netns
from yun.builder import StagingError, StagingRequest, stage
from yun.builder.processes import STEP_TIMEOUT
from yun.builder.sandboxing import runner

PROBE = """\
#!/bin/bash
# What a hostile pre-staging hook tries; each line says what happened.
echo "uid $(id -u)"
echo "uid_map $(tr -s ' ' < /proc/self/uid_map)"
echo "reopened stderr" > /dev/stderr
touch /usr/yun-probe 2>/dev/null && echo "usr writable" || echo "usr read-only"
touch "$OUTSIDE/written" 2>/dev/null && echo "outside writable" || echo "outside unreachable"
cat "$SECRET" 2>/dev/null || echo "secret unreadable"
echo "processes $(ls /proc | grep -c '^[0-9]')"
for target in "127.0.0.1:$LOOPBACK_PORT" "$GATEWAY:$GATEWAY_PORT"; do
  if timeout 2 bash -c "echo > /dev/tcp/${target%:*}/${target#*:}" 2>/dev/null; then
    echo "reached $target"
  else
    echo "blocked $target"
  fi
done
touch built-here && echo "build dir writable"
"""


def _request(source: Path, tmp_path: Path, **options: object) -> StagingRequest:
    work = tmp_path / "work"
    work.mkdir()
    return StagingRequest(
        source_dir=source,
        work_dir=work,
        cache_dir=tmp_path / "cache",
        buildpacks=options.pop("buildpacks", []),  # type: ignore[arg-type]
        env=options.pop("env", {}),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def _containers(sandbox: RuncStaging) -> list[str]:
    return subprocess.run(
        ["runc", "--root", str(sandbox.runc.root), "list", "-q"], capture_output=True, text=True
    ).stdout.split()


def _leftovers(sandbox: RuncStaging) -> list[str]:
    listed = _containers(sandbox)
    sessions = list(sandbox.sessions_dir.iterdir()) if sandbox.sessions_dir.exists() else []
    namespaces = [n for n in os.listdir("/run/netns") if n.startswith("yun-stg")]
    return [*listed, *(p.name for p in sessions), *namespaces]


def test_hello_python_stages_inside_containers(tmp_path: Path, sandbox: RuncStaging) -> None:
    lines: list[str] = []
    result = stage(
        _request(EXAMPLES / "hello-python", tmp_path), output=lines.append, sandbox=sandbox
    )
    text = "\n".join(lines)
    assert result.process_types["web"] == "python app.py"
    assert "Successfully installed" in text and "flask" in text.lower()
    assert result.droplet.stat().st_size > 100_000  # Flask and its dependencies are in it
    assert _leftovers(sandbox) == []


def test_a_hook_cannot_touch_the_host(
    tmp_path: Path, sandbox: RuncStaging, network: CniNetwork
) -> None:
    source = tmp_path / "app"
    source.mkdir()
    (source / "probe.sh").write_text(PROBE)
    (source / "Procfile").write_text("web: sleep 1000\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("the platform's secret\n")
    # A first attachment brings the bridge (and its address on the host) up, so that a
    # server can listen there as the router's and the API's stand-in.
    warm_netns = create_netns(f"yuntest-{uuid.uuid4().hex[:8]}")
    gateway = network.attach("warm-up", warm_netns).gateway
    loopback, bridge = HostServer("127.0.0.1"), HostServer(gateway)
    lines: list[str] = []
    try:
        stage(
            _request(
                source,
                tmp_path,
                buildpacks=["binary"],
                pre_staging=["bash probe.sh"],
                env={
                    "OUTSIDE": str(outside),
                    "SECRET": str(secret),
                    "LOOPBACK_PORT": str(loopback.port),
                    "GATEWAY": gateway,
                    "GATEWAY_PORT": str(bridge.port),
                },
            ),
            output=lines.append,
            sandbox=sandbox,
        )
    finally:
        loopback.close()
        bridge.close()
        network.detach("warm-up", warm_netns)
        delete_netns(warm_netns.name)
    assert "uid 2000" in lines
    assert f"uid_map  0 {ID_BASE} 65536" in lines  # vcap is host id ID_BASE + 2000
    assert "reopened stderr" in lines  # the output pipe is its user's, reopened as a file
    (built,) = tmp_path.glob("work/**/built-here")
    assert built.stat().st_uid == ID_BASE + 2000
    assert "usr read-only" in lines and not Path("/usr/yun-probe").exists()
    assert "outside unreachable" in lines and list(outside.iterdir()) == []
    assert "secret unreadable" in lines and "the platform's secret" not in lines
    processes = next(int(line.split()[1]) for line in lines if line.startswith("processes "))
    assert processes < 10  # bash, ls, grep and the like: nothing of the host
    assert f"blocked 127.0.0.1:{loopback.port}" in lines
    assert f"blocked {gateway}:{bridge.port}" in lines
    assert "build dir writable" in lines


def test_a_failing_buildpack_fails_the_staging_with_its_output(
    tmp_path: Path, sandbox: RuncStaging
) -> None:
    buildpack = tmp_path / "failing-buildpack"
    (buildpack / "bin").mkdir(parents=True)
    (buildpack / "bin" / "supply").write_text("#!/bin/bash\necho 'cannot build this'\nexit 3\n")
    (buildpack / "bin" / "finalize").write_text("#!/bin/bash\nexit 0\n")
    source = tmp_path / "app"
    source.mkdir()
    (source / "index.txt").write_text("hi\n")
    lines: list[str] = []
    with pytest.raises(StagingError, match="bin/supply exited with 3"):
        stage(
            _request(source, tmp_path, buildpacks=[str(buildpack)]),
            output=lines.append,
            sandbox=sandbox,
        )
    assert "cannot build this" in lines
    assert _leftovers(sandbox) == []


def test_a_step_past_its_deadline_is_killed_with_its_container(
    tmp_path: Path, sandbox: RuncStaging
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    lines: list[str] = []
    with runner(sandbox, name=str(work), writable=[work], readable=[]) as run:
        done = run(
            ["bash", "-c", "echo started; sleep 60"],
            cwd=work,
            env={"PATH": "/usr/bin:/bin"},
            output=lines.append,
            timeout=1.5,
        )
        assert done.timed_out and "started" in lines
        assert _containers(sandbox) == []  # the session lives on, the killed step's box not
    assert _leftovers(sandbox) == []
    assert STEP_TIMEOUT > 1.5


def test_a_new_server_sweeps_what_a_killed_one_left(tmp_path: Path, network: CniNetwork) -> None:
    first = RuncStaging(state_root=tmp_path / "staging-runc", network=network)
    work = tmp_path / "work"
    work.mkdir()
    session_context = first.session(str(work), writable=[work], readable=[])
    with (
        session_context as session,
        session.command(["sleep", "60"], cwd=work, env={"PATH": "/usr/bin"}) as argv,
    ):
        running = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        try:
            left = threading.Event()
            for _ in range(50):
                if len(_leftovers(first)) >= 3:  # container, session folder, namespace
                    left.set()
                    break
                left.wait(0.1)
            assert left.is_set(), _leftovers(first)
            second = RuncStaging(state_root=tmp_path / "staging-runc", network=network)
            assert len(second.sweep()) == 1
            assert _leftovers(second) == []
            assert running.wait(timeout=10) != 0  # its container was killed
        finally:
            running.kill()
            running.wait()
    assert _leftovers(first) == []
