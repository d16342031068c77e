"""`yun run-task`, `tasks`, `terminate-task` against a real server: a one-off command runs on
the app's droplet with its environment, its output is in the app's log, its exit status is the
CLI's; a task that runs on is stopped when asked. A manifest's `cron:` job runs for real at
its minute."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import OBSERVED, Platform, push_observed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def worker(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    push_observed(platform, tmp_path_factory.mktemp("tasks"), "chores")
    return "chores"


def tasks_of(platform: Platform, app: str) -> list[dict[str, object]]:
    return list(json.loads(platform.cli("tasks", app, "--json").stdout))


def test_a_task_prints_its_output_and_exits_with_its_status(
    platform: Platform, worker: str
) -> None:
    command = "python -c \"import sys; print('revision', sys.argv[1]); sys.exit(3)\" $YUN_REVISION"
    ran = platform.cli("run-task", worker, command, "--name", "report", "--wait", check=False)

    assert ran.returncode == 3, ran.stderr
    assert "revision 1" in ran.stdout
    assert "Task 1 failed: exited with 3" in ran.stdout
    listed = platform.cli("tasks", worker).stdout.splitlines()
    assert listed[0].split()[:4] == ["id", "name", "state", "exit"]
    assert listed[1].split()[:4] == ["1", "report", "failed", "3"]
    logged = platform.cli("logs", worker, "--recent", "--source", "TASK").stdout
    assert "[TASK/1] revision 1" in logged

    fine = platform.cli("run-task", worker, "ls app.py", "--wait")
    assert "app.py" in fine.stdout  # the droplet's files, in the app's directory


def test_a_running_task_is_terminated(platform: Platform, worker: str) -> None:
    made = json.loads(
        platform.cli("run-task", worker, "sleep 600", "--name", "sleeper", "--json").stdout
    )
    sequence = str(made["sequence_id"])
    deadline = time.monotonic() + 30
    while tasks_of(platform, worker)[0]["state"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.3)

    said = platform.cli("terminate-task", worker, sequence).stdout
    assert f"Terminating task {sequence} (sleeper)" in said
    while (found := tasks_of(platform, worker)[0])["state"] != "FAILED":
        assert time.monotonic() < deadline + 20
        time.sleep(0.3)
    assert found["result"] == {"failure_reason": "terminated"}

    refused = platform.cli("terminate-task", worker, sequence, check=False)
    assert refused.returncode == 1
    assert f"task {sequence} has already finished (FAILED)" in refused.stderr
    missing = platform.cli("terminate-task", worker, "99", check=False)
    assert "task 99 of app chores not found" in missing.stderr


def test_wrong_arguments_name_themselves(platform: Platform, worker: str, tmp_path: Path) -> None:
    bad = platform.cli("run-task", worker, "true", "-m", "lots", check=False)
    assert bad.returncode == 1 and "--memory: 'lots' is not a size" in bad.stderr
    zero = platform.cli("terminate-task", worker, "0", check=False)
    assert zero.returncode == 2 and "ID" in zero.stderr
    nothing = platform.cli("run-task", "no-such-app", "true", check=False)
    assert nothing.returncode == 1 and "no-such-app" in nothing.stderr


def test_a_manifest_cron_job_runs_every_minute_for_real(platform: Platform, tmp_path: Path) -> None:
    folder = tmp_path / "ticker"
    shutil.copytree(OBSERVED, folder)
    (folder / "manifest.yml").write_text(
        "applications:\n"
        "- name: ticker\n"
        "  memory: 128M\n"
        "  cron:\n"
        '  - "* * * * * echo tick on revision $YUN_REVISION"\n'
    )
    platform.cli("push", cwd=folder)
    (listed,) = json.loads(platform.cli("schedules", "ticker", "--json").stdout)
    assert (listed["name"], listed["expression"], listed["origin"]) == (
        "echo-tick-on-revision-yun-revision",
        "* * * * *",
        "manifest",
    )

    deadline = time.monotonic() + 100  # the next minute boundary, then the task
    while True:
        (shown,) = json.loads(platform.cli("schedules", "ticker", "--json").stdout)
        if (shown["last_task"] or {}).get("state") == "SUCCEEDED":
            break
        assert time.monotonic() < deadline, shown
        time.sleep(1)
    assert shown["last_outcome"].startswith("task 1 ran for ")
    logged = platform.cli("logs", "ticker", "--recent", "--source", "TASK").stdout
    assert "[TASK/1] tick on revision 1" in logged
    table = platform.cli("schedules", "ticker").stdout
    assert "1 succeeded" in table and "manifest" in table

    wrong = platform.cli("schedule", "ticker", "*/5 * *", "true", check=False)
    assert wrong.returncode == 1 and "expression: '*/5 * *' is not a cron schedule" in wrong.stderr
    platform.cli("unschedule", "ticker", listed["name"])
    assert "has no schedules" in platform.cli("schedules", "ticker").stdout
