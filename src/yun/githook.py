"""The pre-receive hook of every app's git repository: a push to `main` (or `master`) is staged
and deployed before git accepts it, and refused when that fails, as on Heroku and Dokku.

git runs this with the pushed objects still in quarantine (they join the repository only when
the hook succeeds), so the hook itself packs the pushed commit (`git archive`) and sends it to
the Yun API that served the push (`YUN_GIT_HOOK_URL`, with the push's one-time token). The API
stages and deploys it and answers with progress lines, which this prints: git shows each to the
pusher as a `remote:` line, as it comes. The answer's last line says how it ended; anything but
success exits 1, and git refuses the push.

Standard library only: it starts once per push, in git's environment.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

DEPLOYED = ("refs/heads/main", "refs/heads/master")
ZERO = "0" * 40
RESULT = "YUN-RESULT "
TIMEOUT = 3600.0  # seconds without a line from the API: staging that long has hung


def pick(updates: list[tuple[str, str, str]]) -> tuple[str, str] | None:
    """The (ref, commit) to deploy: `main`, else `master`; None when neither was pushed."""
    for wanted in DEPLOYED:
        for _old, new, ref in updates:
            if ref == wanted and new != ZERO:
                return ref, new
    return None


def main() -> int:
    updates = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    chosen = pick(updates)
    if chosen is None:
        print("Yun deploys pushes to main or master; this push is kept but not deployed.")
        return 0
    ref, commit = chosen
    with tempfile.TemporaryFile() as archive:
        packed = subprocess.run(["git", "archive", "--format=tar", commit], stdout=archive)
        if packed.returncode != 0:
            print(f"could not pack commit {commit}")
            return 1
        size = archive.tell()
        archive.seek(0)
        return send(archive, size=size, ref=ref, commit=commit)


def send(archive: object, *, size: int, ref: str, commit: str) -> int:
    url = os.environ["YUN_GIT_HOOK_URL"]
    if not url.startswith(("http://", "https://")):
        print(f"YUN_GIT_HOOK_URL is not the API's URL: {url!r}")
        return 1
    request = urllib.request.Request(  # noqa: S310 (http or https, checked above)
        url,
        data=archive,  # type: ignore[arg-type]
        method="POST",
        headers={
            "Authorization": f"Bearer {os.environ['YUN_GIT_HOOK_TOKEN']}",
            "Content-Type": "application/x-tar",
            "Content-Length": str(size),
            "X-Yun-Ref": ref,
            "X-Yun-Commit": commit,
        },
    )
    ca = os.environ.get("YUN_GIT_CA")
    context = None
    if ca:  # the API's own certificate; reached on loopback, whatever names it was made for
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = False
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as answer:  # noqa: S310
            for raw in answer:
                line = raw.decode(errors="replace").rstrip("\n")
                if line.startswith(RESULT):
                    outcome = line[len(RESULT) :]
                    if outcome.startswith("ok"):
                        print(outcome, flush=True)
                        return 0
                    print(f"push refused: {outcome.removeprefix('failed: ')}", flush=True)
                    return 1
                print(line, flush=True)
    except urllib.error.HTTPError as exc:
        print(f"the Yun API refused the push: {exc.read().decode(errors='replace')[:500]}")
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"could not reach the Yun API to deploy: {exc}")
        return 1
    print("the Yun API ended the deployment without saying how it went")
    return 1


if __name__ == "__main__":
    sys.exit(main())
