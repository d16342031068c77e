"""Zero downtime under continuous load: a rolling push of a new version, a rollback, a memory
change and a scale from 4 to 1, each while clients keep requesting the app through the router.
Not one request may fail."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import EXAMPLES, YUN, Platform, launch
from tests.e2e.load import Load

pytestmark = pytest.mark.e2e

APP = "zdt"
VERSIONED = """

@app.get("/version")
def version() -> str:
    return "{version} revision " + os.environ.get("YUN_REVISION", "?") + "\\n"
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with launch(tmp_path_factory.mktemp("zdt")) as plat:
        yield plat


def write_version(source: Path, version: str) -> Path:
    """hello-python with a /version page that says `version` and the revision serving it."""
    if not source.exists():
        shutil.copytree(EXAMPLES / "hello-python", source)
        (source / "manifest.yml").unlink(missing_ok=True)
    text = (EXAMPLES / "hello-python" / "app.py").read_text()
    marker = '\n\nif __name__ == "__main__":'
    head, tail = text.split(marker)
    (source / "app.py").write_text(head + VERSIONED.format(version=version) + marker + tail)
    return source


def web(platform: Platform) -> dict[str, object]:
    app = json.loads(platform.cli("app", APP, "--json").stdout)
    return dict(next(p for p in app["processes"] if p["type"] == "web"))


def test_changes_under_load_fail_no_request(platform: Platform, tmp_path: Path) -> None:
    source = write_version(tmp_path / "app", "v1")
    platform.cli("push", APP, "-p", str(source), "-i", "4", "-u", "http")
    platform.wait_for(APP, "v1", path="/version")

    with Load(platform.router_port, f"{APP}.apps.localhost", path="/version") as load:
        # A rolling push of a new version, two new instances at a time.
        write_version(source, "v2")
        pushed = platform.cli("push", APP, "-p", str(source), "--max-in-flight", "2")
        assert "Deploying revision 2" in pushed.stdout
        assert "deployed: revision 2 serves" in pushed.stdout
        assert load.seen_since("v2 revision 2")

        # Back to the first revision, without staging.
        rolled = platform.cli("rollback", APP, "--version", "1")
        assert "deployed: revision 3 serves" in rolled.stdout
        assert load.seen_since("v1 revision 3")

        # New memory means new instances: rolled out like a new version.
        platform.cli("scale", APP, "-m", "300M")
        assert web(platform)["memory_mb"] == 300
        assert load.seen_since("v1 revision 4")

        # 4 → 1: the three that go drain out of the router first.
        platform.cli("scale", APP, "-i", "1")
        platform.wait_for(APP, "v1 revision 4", path="/version")
        load.stop()

    assert load.failures == [], load.failures[:5]
    assert load.total > 200  # the clients really kept at it throughout
    served = {answer.split(" revision ")[1] for answer in load.answers}
    assert served >= {"1", "2", "3", "4"}

    details = web(platform)["instance_details"]
    assert isinstance(details, list)
    assert [d["state"] for d in details if not d["draining"]] == ["RUNNING"]

    revisions = json.loads(platform.cli("revisions", APP, "--json").stdout)
    assert [r["version"] for r in revisions] == [4, 3, 2, 1]
    assert revisions[1]["description"] == "rollback to revision 1"
    assert "web memory 256M → 300M" in revisions[0]["changes"]
    deployments = json.loads(platform.cli("deployments", APP, "--json").stdout)
    assert [d["state"] for d in deployments] == ["DEPLOYED"] * 3


def test_scaling_waits_for_a_deployment_which_can_be_cancelled(
    platform: Platform, tmp_path: Path
) -> None:
    source = write_version(tmp_path / "app", "slow")
    # Revision 1 starts at once; later ones take 30 s, so the cancel always comes first.
    (source / "Procfile").write_text(
        "web: sleep $(( ${YUN_REVISION:-1} > 1 ? 30 : 0 )) && python3 app.py\n"
    )
    platform.cli("push", "slow", "-p", str(source))
    platform.wait_for("slow", "slow revision 1", path="/version")
    with Load(platform.router_port, "slow.apps.localhost", path="/version", clients=2) as load:
        restart = subprocess.Popen(
            [YUN, "restart", "slow"],
            env=platform.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                found = json.loads(platform.cli("deployments", "slow", "--json").stdout)
                if found and found[0]["state"] == "DEPLOYING":
                    break
                time.sleep(0.2)
            refused = platform.cli("scale", "slow", "-i", "3", check=False)
            assert refused.returncode != 0
            assert "is being deployed" in refused.stderr + refused.stdout
            cancelled = platform.cli("cancel-deployment", "slow")
            assert "Deployment cancelled" in cancelled.stdout
            output, _ = restart.communicate(timeout=60)
        finally:
            if restart.poll() is None:
                restart.kill()
                restart.wait()
        assert restart.returncode != 0 and "canceled" in output
        assert "Traceback" not in output
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {"slow revision 1"}  # the old one served throughout
    deployments = json.loads(platform.cli("deployments", "slow", "--json").stdout)
    assert deployments[0]["state"] == "CANCELED"
    assert "cancelled by admin" in deployments[0]["reason"]


def versions_of(answers: dict[str, int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for answer, n in answers.items():
        counts[answer.split(" revision ")[0]] = counts.get(answer.split(" revision ")[0], 0) + n
    return counts


def test_canary_and_blue_green_under_load_fail_no_request(
    platform: Platform, tmp_path: Path
) -> None:
    name = "cny"
    source = write_version(tmp_path / "app", "c1")
    platform.cli("push", name, "-p", str(source), "-i", "2")
    platform.wait_for(name, "c1", path="/version")
    host = f"{name}.apps.localhost"

    with Load(platform.router_port, host, path="/version") as load:
        # A canary at 10 %: it pauses, and exactly that share of requests reaches it.
        write_version(source, "c2")
        pushed = platform.cli(
            "push", name, "-p", str(source), "--strategy", "canary", "--instance-steps", "10"
        )
        assert "Paused: continue with `yun continue-deployment cny`" in pushed.stdout
        sample = Load(platform.router_port, host, path="/version", clients=1)
        with sample:
            while sample.total < 2000:
                time.sleep(0.05)
        counts = versions_of(sample.answers)
        share = counts.get("c2", 0) / sum(counts.values())
        assert 0.07 <= share <= 0.13, counts
        assert sample.failures == []
        continued = platform.cli("continue-deployment", name)
        assert "deployed: revision 2 serves" in continued.stdout
        assert load.seen_since("c2 revision 2")

        # A canary cancelled at its pause: all requests go back to the old revision.
        write_version(source, "c3")
        platform.cli(
            "push", name, "-p", str(source), "--strategy", "canary", "--instance-steps", "20"
        )
        cancelled = platform.cli("cancel-deployment", name)
        assert "Deployment cancelled" in cancelled.stdout
        after_cancel = load.mark()

        # Blue-green: a full new set, switched at once, the old one kept 2 s.
        write_version(source, "c4")
        green = platform.cli(
            "push", name, "-p", str(source), "--strategy", "blue-green", "--keep-old", "2"
        )
        assert "switched all requests to revision 4" in green.stdout
        assert "deployed: revision 4 serves" in green.stdout
        assert load.seen_since("c4 revision 4")
        load.stop()

    assert load.failures == [], load.failures[:5]
    assert after_cancel > 0
    assert set(versions_of(load.answers)) >= {"c1", "c2", "c4"}
    deployments = json.loads(platform.cli("deployments", name, "--json").stdout)
    assert [d["state"] for d in deployments] == ["DEPLOYED", "CANCELED", "DEPLOYED"]
    assert [d["strategy"] for d in deployments] == ["blue-green", "canary", "canary"]
