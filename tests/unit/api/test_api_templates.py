"""The app templates: the bundled ones are listed; a folder in the server's templates directory
is a template too and replaces a bundled one of its name; a broken one is left out; making an
app from one names its services after the app and packages the template's files."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from yun.store.models import Package, ServiceInstance


def home(client: TestClient) -> Path:
    return Path(client.app.state.ctx.settings.home)  # type: ignore[attr-defined]


def test_bundled_and_local_templates_are_listed(client: TestClient) -> None:
    own = home(client) / "templates"
    (own / "static-site").mkdir(parents=True)
    (own / "static-site" / "template.yml").write_text("description: our own static site\n")
    (own / "static-site" / "manifest.yml").write_text("applications:\n- name: x\n")
    (own / "broken").mkdir()
    (own / "broken" / "template.yml").write_text("services: [{name: db}]\n")

    listed = {t["name"]: t for t in client.get("/v3/templates").json()["resources"]}

    assert {"flask-postgres", "express-redis", "worker-cron", "static-site"} <= set(listed)
    assert listed["static-site"] == {
        "name": "static-site",
        "description": "our own static site",
        "services": [],
        "origin": "local",
    }
    assert listed["express-redis"]["services"] == [{"name": "cache", "offering": "redis"}]
    assert "broken" not in listed


def test_an_app_is_made_with_the_templates_files_and_named_services(client: TestClient) -> None:
    made = client.post("/v3/apps/from_template", json={"template": "worker-cron", "name": "jan"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["app"]["name"] == "jan"
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.session() as session:
        package = session.get(Package, body["package"]["guid"])
        assert package is not None
        assert sorted(f["path"] for f in package.files) == ["cleanup.py", "worker.py"]
    schedules = client.get(f"/v3/apps/{body['app']['guid']}/schedules").json()["resources"]
    assert [s["name"] for s in schedules] == ["cleanup"]

    with_db = client.post(
        "/v3/apps/from_template", json={"template": "flask-postgres", "name": "blog"}
    )
    # No broker has registered PostgreSQL here: the service it needs, named after the app, is
    # what the error names (tests/e2e/test_templates.py makes it for real).
    assert with_db.status_code == 422
    assert "blog-db" in with_db.text and "no offering postgresql" in with_db.text
    with store.session() as session:
        assert session.query(ServiceInstance).count() == 0  # nothing half made
    assert client.get("/v3/apps", params={"name": "blog"}).json()["resources"] == []

    taken = client.post("/v3/apps/from_template", json={"template": "static-site", "name": "jan"})
    assert taken.status_code == 409 and "app jan already exists" in taken.text
    missing = client.post("/v3/apps/from_template", json={"template": "nope", "name": "y"})
    assert missing.status_code == 404 and "template: nope not found" in missing.text
