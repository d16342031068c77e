"""The web dashboard in a real browser: Playwright driving Debian's chromium against a real
`yun server`. Screenshots go to artifacts/dashboard/ (kept by CI as the run's artifacts)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Platform, push_observed

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "artifacts" / "dashboard"
NAME = "shown"

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        "Debian's chromium is not installed (make test installs it)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shown(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return push_observed(platform, tmp_path_factory.mktemp("shown"), NAME)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def signed_in(browser: Browser, platform: Platform, user: str, password: str, **options) -> Page:  # type: ignore[no-untyped-def]
    page = browser.new_page(**options)
    page.goto(f"{platform.api_url}/ui/apps")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/ui/apps"))
    return page


def running_rows(page: Page) -> int:
    return page.locator('#live section[data-process="web"] tr[data-state="RUNNING"]').count()


def test_sign_in_scale_deploy_roll_back_follow_logs_and_chart(
    browser: Browser, platform: Platform, shown: Path
) -> None:
    wrong = browser.new_page()
    wrong.goto(f"{platform.api_url}/ui/login")
    wrong.get_by_label("User").fill("admin")
    wrong.get_by_label("Password").fill("not-the-password")
    wrong.get_by_role("button", name="Sign in").click()
    expect(wrong.get_by_role("alert")).to_contain_text("wrong username or password")
    wrong.close()

    page = signed_in(browser, platform, "admin", "e2e-secret")
    expect(page.get_by_label("Space")).to_contain_text("main / dev")
    shot(page, "apps")
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(NAME)

    # Scale to 2 from the page: two instances running, shown without a reload.
    page.get_by_label("web instances").fill("2")
    page.get_by_role("button", name="Scale").click()
    expect(page.get_by_role("status")).to_contain_text("Scaling web to 2")
    expect(page.locator('#live section[data-process="web"] h2')).to_contain_text(
        "2/2 running", timeout=60_000
    )
    assert running_rows(page) == 2
    shot(page, "scaled")

    # A new version pushed from the CLI: its deployment's steps show on the page.
    before = json.loads(platform.cli("app", NAME, "--json").stdout)["revision"]["version"]
    (shown / "VERSION").write_text("two\n")
    pushed = threading.Thread(target=platform.cli, args=("push", NAME, "-p", str(shown)))
    pushed.start()
    deployment = page.locator("#deployment")
    expect(deployment).to_contain_text(f"→ {before + 1}", timeout=120_000)
    expect(deployment.locator(".steps li").first).to_be_visible()
    pushed.join(300)
    expect(deployment).to_contain_text("deployed", timeout=60_000)
    shot(page, "deployed")

    # Roll back from the page, to the revision before.
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-revision="{before}"]').get_by_role("button", name="Roll back").click()
    expect(page.get_by_role("status")).to_contain_text(f"Rolling back to revision {before}")
    expect(deployment).to_contain_text("deployed", timeout=120_000)
    current = json.loads(platform.cli("app", NAME, "--json").stdout)["revision"]
    assert (
        current["description"].startswith(f"rollback to {before}")
        or current["version"] > before + 1
    )

    # A new line in the log tail, and a chart with points after traffic.
    marker = f"/seen-{time.monotonic_ns()}"
    for _ in range(20):
        platform.get(NAME, marker)
    expect(page.locator("#log")).to_contain_text(marker, timeout=30_000)
    chart = page.locator('.chart[data-field="requests_per_second"]')
    expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=30_000)
    assert chart.locator("canvas").count() == 1
    shot(page, "app")


def test_a_canary_pauses_on_the_page_and_goes_on_from_it(
    browser: Browser, platform: Platform, shown: Path
) -> None:
    page = signed_in(browser, platform, "admin", "e2e-secret")
    page.get_by_role("link", name=NAME, exact=True).click()
    state = page.locator("[data-deployment-state]")

    (shown / "VERSION").write_text("canary\n")
    command = ("push", NAME, "-p", str(shown), "--strategy", "canary", "--instance-steps", "50")
    pushed = threading.Thread(target=platform.cli, args=command)
    pushed.start()
    expect(state).to_have_attribute("data-deployment-state", "PAUSED", timeout=120_000)
    expect(page.locator("#deployment")).to_contain_text("new revision takes 50%")
    shot(page, "canary-paused")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("The deployment goes on.")
    expect(state).to_have_attribute("data-deployment-state", "DEPLOYED", timeout=120_000)
    pushed.join(300)


def test_services_and_the_marketplace_show_what_is_there(
    browser: Browser, platform: Platform, shown: Path
) -> None:
    platform.cli("create-user-provided-service", "shown-creds", "-p", '{"token": "s3cret"}')
    platform.cli("bind-service", NAME, "shown-creds")

    page = signed_in(browser, platform, "admin", "e2e-secret")
    page.get_by_role("link", name="Services").click()
    card = page.locator("section.card", has_text="shown-creds")
    expect(card).to_contain_text(NAME)  # its binding
    expect(card).to_contain_text("None yet")  # no backups
    assert "s3cret" not in page.content()
    page.get_by_role("link", name="Marketplace").click()
    expect(page.get_by_role("heading", name=re.compile("postgresql"))).to_be_visible()
    page.get_by_role("link", name="Events").click()
    expect(page.locator(".timeline")).to_contain_text("audit.service_binding")
    page.goto(f"{platform.api_url}/ui/apps")
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.locator("section.card", has_text="Services")).to_contain_text("shown-creds")
    shot(page, "services")


def test_at_phone_width_nothing_scrolls_sideways(
    browser: Browser, platform: Platform, shown: Path
) -> None:
    phone = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2}
    page = signed_in(browser, platform, "admin", "e2e-secret", **phone)
    for path in ("/ui/apps", "/ui/events", "/ui/marketplace", "/ui/services"):
        page.goto(f"{platform.api_url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    page.goto(f"{platform.api_url}/ui/apps")
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.locator('.chart[data-field="cpu_percent"] canvas')).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "phone-app")


def test_what_the_api_refuses_is_shown_on_the_page(
    browser: Browser, platform: Platform, shown: Path, tmp_path: Path
) -> None:
    user = f"auditor{time.monotonic_ns() % 100000}"
    secret = tmp_path / "password"
    secret.write_text("look-but-do-not-touch\n")
    platform.cli("create-user", user, "--password-file", str(secret))
    platform.cli("set-space-role", user, "main", "dev", "SpaceAuditor")

    page = signed_in(browser, platform, user, "look-but-do-not-touch")
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.get_by_text("needs SpaceDeveloper")).to_be_visible()  # env: not for auditors
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restart").click()
    expect(page.get_by_role("alert")).to_contain_text("may not")
    shot(page, "refused")
    page.goto(f"{platform.api_url}/ui/apps/00000000-0000-4000-8000-000000000000")
    expect(page.get_by_role("alert")).to_contain_text("not found")


def test_pages_and_docs_load_nothing_from_outside(platform: Platform) -> None:
    """With the network namespace cut off (only loopback), /ui and /docs still render."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a network namespace of its own")
    script = Path(__file__).with_name("offline_pages.py")
    result = subprocess.run(
        ["unshare", "--net", "--", sys.executable, str(script), str(ARTIFACTS)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["outside"] == [], found["outside"]
    assert found["operations"] > 50  # Swagger UI drew the API's operations
    assert found["login_form"] is True
