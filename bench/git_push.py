"""Seconds for a change to go live with `git push` against `yun push` of the same change, on
one private `yun server` (same run, same app: the ratio is what counts on a noisy machine).

The app is tests/apps/flask-procfile (Flask, `web: python app.py`, a manifest). Both ways are
warmed up once (first staging, buildpack cache); then each run changes one line of the answer,
commits it, and times `git push yun main` (which returns once the new revision serves) and,
in turn, `yun push` of the same tree, each until the router answers with the new text.

Usage: .venv/bin/python bench/git_push.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from serving import YUN, running_server, server_env

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "apps" / "flask-procfile"
POLL = httpx.Client(timeout=2, trust_env=False, headers={"Connection": "close"})


def git(repo: Path, *args: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def serving(router: str, host: str, text: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in POLL.get(router, headers={"Host": host}).text:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{host} never answered {text!r}")


def change(repo: Path, label: str) -> str:
    app = repo / "app.py"
    text = app.read_text()
    start = text.index('return "') + len('return "')
    end = text.index("\\n", start)
    app.write_text(text[:start] + f"Hello {label}" + text[end:])
    git(repo, "commit", "--quiet", "-am", label)
    return f"Hello {label}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = server_env(work)
        with running_server(env) as api:
            router = f"http://127.0.0.1:{env['YUN_ROUTER_PORT']}/"
            subprocess.run(
                [YUN, "login", "-a", api, "-u", "admin", "-p", "bench-password"],
                env=env,
                check=True,
                capture_output=True,
            )
            repos = {}
            for way in ("git", "yun"):
                repo = work / way
                shutil.copytree(SAMPLE, repo)
                text = (repo / "manifest.yml").read_text().replace("flask-procfile", way)
                (repo / "manifest.yml").write_text(text)
                git(repo, "init", "--quiet", "--initial-branch=main")
                git(repo, "add", ".")
                git(repo, "commit", "--quiet", "-m", "first")
                repos[way] = repo
            remote = api.replace("://", "://admin:bench-password@") + "/git/main/dev/git.git"
            git(repos["git"], "remote", "add", "yun", remote)

            def push(way: str) -> None:
                if way == "git":
                    git(repos["git"], "push", "--quiet", "yun", "main")
                else:
                    subprocess.run(
                        [YUN, "push"], cwd=repos["yun"], env=env, check=True, capture_output=True
                    )

            times: dict[str, list[float]] = {"git": [], "yun": []}
            for run in range(runs + 1):  # run 0 warms both up
                for way in ("git", "yun"):
                    text = change(repos[way], f"{way} {run}")
                    time.sleep(2.0)
                    started = time.monotonic()
                    push(way)
                    serving(router, f"{way}.apps.localhost", text)
                    if run:
                        times[way].append(time.monotonic() - started)
    git_s, yun_s = statistics.median(times["git"]), statistics.median(times["yun"])
    print(f"runs: {runs} (after one warm-up push each)")
    print(f"git push to new revision serving: median {git_s:.2f} s  (min {min(times['git']):.2f})")
    print(f"yun push to new revision serving: median {yun_s:.2f} s  (min {min(times['yun']):.2f})")
    print(f"ratio git push / yun push: {git_s / yun_s:.2f}")


if __name__ == "__main__":
    main()
