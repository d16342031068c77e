"""Pipelines and promotion against a real server: `yun promote` moves the very droplet an app
runs in dev (the same digest) to staging, where the app gets staging's own environment and
route; a failing test stage stops the promotion and keeps its output."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform, push_observed

pytestmark = pytest.mark.e2e

CHECK = """\
import os
import sys

if os.path.exists("passing"):
    print("all tests passed")
else:
    print("1 test failed: test_checkout")
    sys.exit(1)
"""


@pytest.fixture(scope="module")
def shop(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An app in dev whose Procfile has a `test:` line (failing until the file `passing` is
    there), a staging space, and a pipeline of the two; the CLI targets dev again after."""
    folder = push_observed(platform, tmp_path_factory.mktemp("pipelines"), "shop")
    (folder / "Procfile").write_text("web: python app.py\ntest: python check.py\n")
    (folder / "check.py").write_text(CHECK)
    platform.cli("push", "shop", "-p", str(folder), "-m", "128M")
    platform.cli("create-space", "staging")
    platform.cli("create-pipeline", "shop", "--stages", "dev,staging")
    try:
        yield folder
    finally:
        platform.cli("target", "-s", "dev")


def stages(platform: Platform) -> dict[str, dict[str, object]]:
    """The app shop at each stage (the spaces hold other tests' apps too)."""
    found = json.loads(platform.cli("pipeline", "shop", "--json").stdout)
    return {
        s["space"]: next((a for a in s["apps"] if a["name"] == "shop"), {}) for s in found["stages"]
    }


def test_a_failing_test_stage_stops_the_promotion(platform: Platform, shop: Path) -> None:
    refused = platform.cli(
        "promote", "shop", "--from", "dev", "--to", "staging", "--test", check=False
    )

    assert refused.returncode == 1
    assert "1 test failed: test_checkout" in refused.stdout  # its output is kept and shown
    assert "the test command failed (exited with 1); nothing was promoted" in refused.stderr
    assert stages(platform)["staging"].get("revision") is None


def test_promotion_moves_the_same_droplet_with_the_targets_environment(
    platform: Platform, shop: Path
) -> None:
    (shop / "passing").write_text("yes\n")
    platform.cli("push", "shop", "-p", str(shop), "-m", "128M")

    promoted = platform.cli("promote", "shop", "--from", "dev", "--to", "staging", "--test")
    assert "all tests passed" in promoted.stdout
    assert "Promoted: shop in staging runs revision 1." in promoted.stdout
    both = stages(platform)
    assert both["dev"]["droplet"] == both["staging"]["droplet"]  # no rebuild: the same digest
    assert str(both["dev"]["droplet"]).startswith("sha256:")
    platform.wait_for("shop-staging", "observed")

    platform.cli("target", "-s", "staging")
    platform.cli("set-env", "shop", "STAGE", "staging")
    platform.cli("target", "-s", "dev")
    platform.cli("promote", "shop", "--from", "dev", "--to", "staging")
    deadline = time.monotonic() + 60
    while stages(platform)["staging"]["revision"] != 2:  # rolled out: revision 2 serves
        assert time.monotonic() < deadline
        time.sleep(0.5)
    platform.cli("target", "-s", "staging")
    ran = platform.cli("run-task", "shop", "echo stage=$STAGE revision=$YUN_REVISION", "--wait")
    platform.cli("target", "-s", "dev")
    assert "stage=staging revision=2" in ran.stdout
    table = platform.cli("pipeline", "shop").stdout.splitlines()
    assert table[0].split() == ["stage", "app", "state", "revision", "droplet", "commit"]
    assert ["staging", "shop", "started", "2"] in [line.split()[:4] for line in table]


def test_wrong_promotions_are_refused(platform: Platform, shop: Path) -> None:
    nowhere = platform.cli("promote", "shop", "--from", "dev", "--to", "qa", check=False)
    assert nowhere.returncode == 1 and "to_space: qa is not a space of this org" in nowhere.stderr
    itself = platform.cli("promote", "shop", "--from", "dev", "--to", "dev", check=False)
    assert "to_space: dev is the app's own space" in itself.stderr
    missing = platform.cli("promote", "nope", "--from", "dev", "--to", "staging", check=False)
    assert "app nope not found in space dev" in missing.stderr
    few = platform.cli("create-pipeline", "solo", "--stages", "dev", check=False)
    assert few.returncode == 1 and "--stages: name two spaces or more" in few.stderr
