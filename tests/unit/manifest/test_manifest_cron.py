"""Stackato's `cron:` key: crontab lines or one mapping per job, at the application's level or
in its `stackato:` block; a mistake is one error naming the job."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from yun.manifest import CronSpec, ManifestError, parse_application, parse_manifest
from yun.manifest.cron import next_time
from yun.manifest.rendering import to_manifest


def test_a_stackato_manifest_with_cron_lines_pushes_unchanged(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yml"
    manifest.write_text(
        textwrap.dedent(
            """\
            applications:
            - name: reports
              memory: 128M
              stackato:
                cron:
                - "*/10 * * * *   python cleanup.py --older-than '7 days'"
                - "@daily $HOME/bin/report.sh"
            """
        )
    )
    (spec,) = parse_manifest(manifest).applications

    assert spec.cron == [
        CronSpec("*/10 * * * *", "python cleanup.py --older-than '7 days'"),
        CronSpec("@daily", "$HOME/bin/report.sh"),
    ]
    assert parse_application(to_manifest(spec), source="r", index=0).cron == spec.cron


def test_a_job_as_a_mapping_says_its_name_overlap_and_memory() -> None:
    spec = parse_application(
        {
            "name": "reports",
            "cron": [
                {"schedule": "0 3 * * *", "command": "python nightly.py", "name": "nightly"},
                {
                    "schedule": "@hourly",
                    "command": "python sync.py",
                    "overlap": True,
                    "memory": "1G",
                },
            ],
        },
        source="request",
        index=0,
    )
    assert spec.cron == [
        CronSpec("0 3 * * *", "python nightly.py", "nightly"),
        CronSpec("@hourly", "python sync.py", overlap=True, memory_mb=1024),
    ]
    assert parse_application({"name": "x"}, source="r", index=0).cron is None  # keeps the app's


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 3 * * * x", "applications[0].cron: expected a list"),
        (["*/5 * * * *"], "applications[0].cron[0]: '*/5 * * * *' is not a cron line"),
        (["61 * * * * x"], "applications[0].cron[0]: '61 * * * *' is not a cron schedule"),
        (["@often x"], "applications[0].cron[0]: '@often' is not a cron schedule"),
        ([{"command": "x"}], "applications[0].cron[0].schedule: is required"),
        ([{"schedule": "@daily"}], "applications[0].cron[0].command: is required"),
        (
            [
                {"schedule": "@daily", "command": "a", "name": "n"},
                {"schedule": "@daily", "command": "b", "name": "n"},
            ],
            "applications[0].cron: two jobs have the same name",
        ),
    ],
)
def test_a_wrong_job_is_one_error_naming_it(cron: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("*", r"\*")):
        parse_application({"name": "x", "cron": cron}, source="request", index=0)


def test_next_time_is_utc_and_strictly_after() -> None:
    at = 1_796_536_800.0  # 2026-12-06 06:00:00 UTC
    assert next_time("0 * * * *", at) == at + 3600
    assert next_time("30 6 * * *", at) == at + 1800
    assert next_time("@daily", at) == at + 18 * 3600
