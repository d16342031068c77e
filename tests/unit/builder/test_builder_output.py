"""Staging output reaches the caller line by line while each step runs, and failures say why."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.unit.builder.builder_fakes import Lines, make_app, make_buildpack, make_request

from yun.builder import StagingError, stage

# The step prints one line, then waits until the test's output callback has seen it. If output
# were only delivered when the step ends, the step would give up and print TOO LATE.
HANDSHAKE = """
echo "first line"
for _ in $(seq 100); do
  [ -f "$SEEN" ] && break
  sleep 0.1
done
[ -f "$SEEN" ] && echo "second line, after the first was seen" || echo "TOO LATE"
echo "to stderr" >&2
echo "last line"
"""


def test_output_arrives_live_and_in_order(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    bp = make_buildpack(tmp_path / "bps", "chatty", finalize=HANDSHAKE)
    request = make_request(
        tmp_path, app=make_app(tmp_path), buildpacks=[bp], env={"SEEN": str(seen)}
    )
    lines: list[str] = []

    def output(line: str) -> None:
        lines.append(line)
        if line == "first line":
            seen.touch()

    stage(request, output=output)

    step_lines = [line for line in lines if not line.startswith("----->")]
    assert step_lines == [
        "first line",
        "second line, after the first was seen",
        "to stderr",
        "last line",
    ]
    assert lines.index("-----> Finalizing with buildpack chatty") < lines.index("first line")


def test_failing_step_raises_after_streaming_its_output(tmp_path: Path) -> None:
    bp = make_buildpack(
        tmp_path / "bps",
        "broken",
        supply="echo 'resolving'\necho 'ERROR: no such package' >&2\nexit 3",
        finalize="true",
    )
    out = Lines()
    request = make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp])

    with pytest.raises(StagingError) as failure:
        stage(request, output=out)

    assert str(failure.value) == "buildpack broken: bin/supply exited with 3"
    assert out.lines[-2:] == ["resolving", "ERROR: no such package"]


def test_a_background_process_cannot_hang_staging(tmp_path: Path) -> None:
    # The daemon inherits stdout; staging must finish anyway and not leave it running.
    finalize = 'sleep 300 &\necho "$!" > "$1/daemon.pid"\necho started'
    bp = make_buildpack(tmp_path / "bps", "leaky", finalize=finalize)
    out = Lines()
    stage(make_request(tmp_path, app=make_app(tmp_path), buildpacks=[bp]), output=out)

    assert "started" in out.lines
    pid = int((tmp_path / "work" / "app" / "daemon.pid").read_text())
    deadline = time.monotonic() + 5  # the kill is sent; the kernel may take a moment under load
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
        assert time.monotonic() < deadline, f"pid {pid} still running"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except FileNotFoundError:
        return "Z"  # gone between the two looks: as good as reaped
