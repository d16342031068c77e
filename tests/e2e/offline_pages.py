"""Run inside a network namespace of its own (`unshare --net`): starts a `yun server` on
loopback and opens `/docs` and `/ui/login` in chromium, noting every request that would leave
the machine. Prints one JSON line: what went outside, how many API operations Swagger UI drew,
and whether the sign-in form is there. Called by tests/e2e/test_dashboard.py."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).parents[2]))

from playwright.sync_api import sync_playwright
from tests.e2e.conftest import launch

LOCAL = {"127.0.0.1", "localhost", "::1"}


def main() -> None:
    artifacts = Path(sys.argv[1])
    artifacts.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    outside: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="yun-offline-") as base,
        launch(Path(base)) as plat,
        sync_playwright() as playwright,
    ):
        if True:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox"]
            )
            page = browser.new_page()

            def note(request):  # type: ignore[no-untyped-def]
                host = urlparse(request.url).hostname or ""
                if request.url.startswith("http") and host not in LOCAL:
                    outside.append(request.url)

            page.on("request", note)
            page.goto(f"{plat.api_url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)  # it draws operations
            # With many operations Swagger UI keeps only those in view in the page: the count
            # is what it read from the API's description.
            operations = page.evaluate("() => ui.specSelectors.operations().size")
            page.screenshot(path=str(artifacts / "offline-docs.png"))
            page.goto(f"{plat.api_url}/ui/login")
            login_form = page.get_by_label("Password").count() == 1
            page.screenshot(path=str(artifacts / "offline-login.png"))
            browser.close()
    print(json.dumps({"outside": outside, "operations": operations, "login_form": login_form}))


if __name__ == "__main__":
    main()
