"""`git push` deploys, as on Heroku and Dokku: a Flask repository with a manifest, pushed to
`yun git-url`'s remote, is created, staged and served; a second push rolls out with no failed
request under load and its commit is on the revision; a push whose staging fails is refused
and the old version keeps serving; wrong credentials are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import Platform
from tests.e2e.load import Load

pytestmark = pytest.mark.e2e

FLASK = Path(__file__).parents[1] / "apps" / "flask-procfile"
APP = "gitflask"


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "YUN_"))},
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Ann",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "Ann",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "HOME": str(repo.parent),
    }
    result = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {result.returncode}\n{result.stderr}")
    return result


def with_credentials(url: str, user: str, secret: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{secret}@{rest}"


@pytest.fixture(scope="module")
def repo(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Flask sample as a git repository (its manifest names it flask-procfile), with the
    remote `yun git-url` prints, carrying the admin's password."""
    folder = tmp_path_factory.mktemp("git") / "gitflask"
    shutil.copytree(FLASK, folder)
    git(folder, "init", "--quiet", "--initial-branch=main")
    git(folder, "add", ".")
    git(folder, "commit", "--quiet", "-m", "Hello from Flask")
    url = platform.cli("git-url", APP).stdout.strip()
    assert url == f"{platform.api_url}/git/main/dev/{APP}.git"
    git(folder, "remote", "add", "yun", with_credentials(url, "admin", "e2e-secret"))
    return folder


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def test_a_push_creates_stages_and_serves_the_app(platform: Platform, repo: Path) -> None:
    pushed = git(repo, "push", "yun", "main")

    said = pushed.stderr
    assert f"remote: Deploying commit {head(repo)[:12]} to {APP}" in said
    assert "remote: Applying manifest.yml (flask-procfile)" in said
    assert "remote: Installing" in said or "remote: -----> " in said  # staging, live
    assert f"remote: ok: {APP} runs revision 1 (commit {head(repo)[:12]})" in said
    assert platform.wait_for(APP, "Hello World from Flask").status_code == 200
    (revision,) = json.loads(platform.cli("revisions", APP, "--json").stdout)
    assert revision["commit"] == head(repo)
    assert head(repo)[:12] in platform.cli("revisions", APP).stdout


def test_a_second_push_rolls_out_without_a_failed_request(platform: Platform, repo: Path) -> None:
    platform.wait_for(APP, "Hello World from Flask")
    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace("Hello World", "Hello again"))
    git(repo, "commit", "--quiet", "-am", "Say hello again")

    with Load(platform.router_port, f"{APP}.apps.localhost") as load:
        pushed = git(repo, "push", "yun", "main")
        assert load.seen_since("Hello again")
        load.stop()

    assert "remote: ok:" in pushed.stderr
    assert load.failures == [], load.failures[:5]
    assert load.total > 50
    assert set(load.answers) == {
        "Hello World from Flask, started with python app.py",
        "Hello again from Flask, started with python app.py",
    }
    revisions = json.loads(platform.cli("revisions", APP, "--json").stdout)
    assert revisions[0]["commit"] == head(repo) and revisions[0]["current"]


def test_a_push_whose_staging_fails_is_refused(platform: Platform, repo: Path) -> None:
    serving = platform.wait_for(APP, "from Flask").text
    (repo / "requirements.txt").write_text("Flask>=3.0\nno-such-package-from-yun-tests==1.0\n")
    git(repo, "commit", "--quiet", "-am", "Depend on what does not exist")

    refused = git(repo, "push", "yun", "main", check=False)

    assert refused.returncode != 0
    assert "pre-receive hook declined" in refused.stderr
    assert "remote: push refused: staging failed: buildpack python" in refused.stderr
    assert platform.get(APP).text == serving  # the old version keeps serving
    remote = git(repo, "ls-remote", "yun", "main").stdout.split()[0]
    assert remote != head(repo)  # git kept the refused commit out of the repository
    git(repo, "reset", "--quiet", "--hard", "HEAD~1")


def test_wrong_credentials_are_refused_and_a_token_works(platform: Platform, repo: Path) -> None:
    url = platform.cli("git-url", APP).stdout.strip()
    wrong = git(repo, "ls-remote", with_credentials(url, "admin", "not-it"), check=False)
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr
    nobody = git(repo, "ls-remote", url, check=False)
    assert nobody.returncode != 0

    token = httpx.post(
        f"{platform.api_url}/v3/auth/token", json={"username": "admin", "password": "e2e-secret"}
    ).json()["access_token"]
    listed = git(repo, "ls-remote", with_credentials(url, "admin", token), "main")
    assert listed.stdout.split()[0] == head(repo)
    missing = git(repo, "ls-remote", url.replace("/dev/", "/nowhere/"), check=False)
    assert missing.returncode != 0


def test_a_forge_push_webhook_builds_and_deploys_its_branch(
    platform: Platform, repo: Path, tmp_path: Path
) -> None:
    forge = tmp_path / "forge.git"  # a hosted forge's copy of the repository
    git(repo, "init", "--quiet", "--bare", str(forge))
    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace("Hello again", "Hello from the forge"))
    git(repo, "commit", "--quiet", "-am", "Deploy from the forge")
    git(repo, "push", "--quiet", str(forge), "main")
    made = json.loads(
        platform.cli(
            "create-build-trigger", APP, "--repo", f"file://{forge}", "--secret", "s3cret", "--json"
        ).stdout
    )
    body = json.dumps({"ref": "refs/heads/main", "after": head(repo)}).encode()
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()

    unsigned = httpx.post(made["url"], content=body)
    assert unsigned.status_code == 401
    elsewhere = httpx.post(
        made["url"],
        content=b'{"ref": "refs/heads/wip"}',
        headers={
            "X-Hub-Signature-256": "sha256="
            + hmac.new(b"s3cret", b'{"ref": "refs/heads/wip"}', hashlib.sha256).hexdigest()
        },
    )
    assert elsewhere.status_code == 202 and "skipped" in elsewhere.json()
    fired = httpx.post(
        made["url"],
        content=body,
        headers={"X-Hub-Signature-256": signature, "X-GitHub-Event": "push"},
    )
    assert fired.status_code == 202, fired.text

    platform.wait_for(APP, "Hello from the forge", timeout=180)
    deadline = time.monotonic() + 30
    while not (listed := json.loads(platform.cli("build-triggers", APP, "--json").stdout))[0][
        "last_outcome"
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert listed[0]["last_outcome"].startswith(f"ok: {APP} runs revision")
    assert head(repo)[:12] in listed[0]["last_outcome"]
    revisions = json.loads(platform.cli("revisions", APP, "--json").stdout)
    assert revisions[0]["commit"] == head(repo)
