"""The app store: every bundled template makes a working app with its services, as a user
would make one (`yun templates`, `yun create-app-from-template TEMPLATE NAME`)."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e


def test_the_templates_are_listed(platform: Platform) -> None:
    listed = {t["name"]: t for t in json.loads(platform.cli("templates", "--json").stdout)}
    assert {"flask-postgres", "express-redis", "static-site", "worker-cron"} <= set(listed)
    assert listed["flask-postgres"]["services"] == [{"name": "db", "offering": "postgresql"}]
    table = platform.cli("templates").stdout.splitlines()
    assert table[0].split() == ["template", "services", "description"]
    assert any(line.startswith("express-redis") and "cache (redis)" in line for line in table)


def test_flask_on_postgresql_keeps_its_visits(platform: Platform) -> None:
    made = platform.cli("create-app-from-template", "flask-postgres", "blog")
    assert "service blog-db (postgresql)" in made.stdout
    assert "visit 1" in platform.wait_for("blog", "visit", timeout=120).text
    assert platform.get("blog").text == "Hello from Flask on PostgreSQL: visit 2\n"
    services = {s["name"]: s for s in json.loads(platform.cli("services", "--json").stdout)}
    assert "blog" in str(services["blog-db"])  # bound to the app


def test_express_on_redis_keeps_its_visits(platform: Platform) -> None:
    platform.cli("create-app-from-template", "express-redis", "counter")
    first = platform.wait_for("counter", "visit", timeout=120).text
    assert first.startswith("Hello from Express on Redis: visit ")
    number = int(first.rsplit(" ", 1)[1])
    assert platform.get("counter").text == f"Hello from Express on Redis: visit {number + 1}\n"


def test_a_static_site_is_served(platform: Platform) -> None:
    platform.cli("create-app-from-template", "static-site", "homepage")
    assert "A static site on Yun" in platform.wait_for("homepage", "static site").text
    assert "font-family" in platform.get("homepage", "/style.css").text


def test_a_worker_runs_with_its_cron_job(platform: Platform) -> None:
    platform.cli("create-app-from-template", "worker-cron", "janitor")
    (job,) = json.loads(platform.cli("schedules", "janitor", "--json").stdout)
    assert (job["name"], job["expression"], job["command"], job["origin"]) == (
        "cleanup",
        "*/5 * * * *",
        "python3 cleanup.py",
        "manifest",
    )
    app = json.loads(platform.cli("app", "janitor", "--json").stdout)
    assert app["state"] == "STARTED" and app["routes"] == []
    ran = platform.cli("run-task", "janitor", job["command"], "--wait")
    assert "cleanup ran at" in ran.stdout


def test_a_wrong_template_or_a_taken_name_is_refused(platform: Platform) -> None:
    missing = platform.cli("create-app-from-template", "rails-mysql", "x", check=False)
    assert missing.returncode == 1 and "template: rails-mysql not found" in missing.stderr
    platform.cli("create-app-from-template", "static-site", "twice")
    again = platform.cli("create-app-from-template", "static-site", "twice", check=False)
    assert again.returncode == 1 and "name: app twice already exists" in again.stderr
