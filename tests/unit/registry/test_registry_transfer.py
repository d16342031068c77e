"""How pull and push call skopeo: TLS only off for loopback, credentials never on argv.

A fake `skopeo` on PATH records its arguments and the auth file it was given, and plays the
part of a successful copy (writing the layout's index.json or the digest file).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from yun.registry import ImageError, pull, push

FAKE_SKOPEO = """#!{python}
import json, sys
from pathlib import Path
argv = sys.argv[1:]
auth = None
for flag in ("--src-authfile", "--dest-authfile"):
    if flag in argv:
        auth = json.loads(Path(argv[argv.index(flag) + 1]).read_text())
Path({record!r}).write_text(json.dumps({{"argv": argv, "auth": auth}}))
if "--digestfile" in argv:
    Path(argv[argv.index("--digestfile") + 1]).write_text("sha256:" + "d" * 64)
dest = argv[-1]
if dest.startswith("oci:"):
    layout, _, tag = dest[4:].rpartition(":")
    Path(layout).mkdir(parents=True, exist_ok=True)
    Path(layout, "index.json").write_text(json.dumps({{"manifests": [{{
        "digest": "sha256:" + "e" * 64,
        "annotations": {{"org.opencontainers.image.ref.name": tag}}}}]}}))
if "fail" in dest or "fail" in argv[-2]:
    sys.stderr.write('level=fatal msg="x: y: unauthorized: authentication required"')
    sys.exit(1)
"""


@pytest.fixture
def skopeo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Installs the fake skopeo; returns the file it records its last call in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record.json"
    fake = bin_dir / "skopeo"
    fake.write_text(FAKE_SKOPEO.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return record


def _call(record: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.read_text())
    return data


def test_pull_from_loopback_skips_tls_and_names_the_layout_tag(
    skopeo: Path, tmp_path: Path
) -> None:
    ref = pull("127.0.0.1:5005/app:1", tmp_path / "layout")
    call = _call(skopeo)
    assert call["argv"] == [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "docker://127.0.0.1:5005/app:1",
        f"oci:{tmp_path / 'layout'}:1",
    ]
    assert call["auth"] is None
    assert (ref.reference, ref.tag, ref.digest) == (
        "127.0.0.1:5005/app:1",
        "1",
        "sha256:" + "e" * 64,
    )
    assert ref.oci == f"{tmp_path / 'layout'}:1"


def test_pull_from_a_remote_registry_verifies_tls_unless_told_not_to(
    skopeo: Path, tmp_path: Path
) -> None:
    pull("docker://registry.example/team/app", tmp_path / "a")
    assert "--src-tls-verify=true" in _call(skopeo)["argv"]
    assert _call(skopeo)["argv"][-1].endswith(":latest")
    pull("registry.example/team/app:2", tmp_path / "b", tls_verify=False, tag="mine")
    assert "--src-tls-verify=false" in _call(skopeo)["argv"]
    assert _call(skopeo)["argv"][-1] == f"oci:{tmp_path / 'b'}:mine"


def test_credentials_go_in_an_auth_file_never_on_argv(skopeo: Path, tmp_path: Path) -> None:
    pull("registry.example:5000/app:1", tmp_path / "l", username="alice", password="hunter2")
    call = _call(skopeo)
    assert not any("hunter2" in arg for arg in call["argv"])
    token = call["auth"]["auths"]["registry.example:5000"]["auth"]
    assert base64.b64decode(token) == b"alice:hunter2"
    leftover = call["argv"][call["argv"].index("--src-authfile") + 1]
    assert not Path(leftover).exists()  # removed after the copy


def test_a_username_without_password_is_a_caller_bug(skopeo: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a password"):
        pull("registry.example/app:1", tmp_path / "l", username="alice")


def test_failed_pull_is_one_line_without_the_password(skopeo: Path, tmp_path: Path) -> None:
    with pytest.raises(ImageError) as caught:
        pull("127.0.0.1:5005/fail:1", tmp_path / "l", username="alice", password="hunter2")
    message = str(caught.value)
    assert message == (
        "cannot pull 127.0.0.1:5005/fail:1: authentication required: wrong or missing credentials"
    )


def test_push_returns_the_reference_pinned_by_digest(skopeo: Path, tmp_path: Path) -> None:
    pushed = push(tmp_path / "layout", "v1", "127.0.0.1:5005/team/app:v1")
    assert pushed == "127.0.0.1:5005/team/app@sha256:" + "d" * 64
    argv = _call(skopeo)["argv"]
    assert "--dest-tls-verify=false" in argv
    assert argv[-2:] == [f"oci:{tmp_path / 'layout'}:v1", "docker://127.0.0.1:5005/team/app:v1"]


def test_push_with_credentials_uses_a_dest_auth_file(skopeo: Path, tmp_path: Path) -> None:
    push(tmp_path / "l", "v1", "reg.example/app:v1", username="u", password="p4ss")
    call = _call(skopeo)
    assert "--dest-authfile" in call["argv"] and "--dest-tls-verify=true" in call["argv"]
    assert not any("p4ss" in arg for arg in call["argv"])
    assert set(call["auth"]["auths"]) == {"reg.example"}
