"""Tool output (skopeo, umoci, Distribution) becomes one line a user can act on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from yun.registry import ImageError, failure_reason
from yun.registry.tools import run_tool

SKOPEO = 'time="2026-11-22T03:01:12Z" level=fatal msg="initializing source docker://{}"'


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "localhost:5005/app:1: reading manifest 1 in localhost:5005/app:"
            " manifest unknown: manifest unknown",
            "manifest unknown",
        ),
        (
            "127.0.0.1:5007/priv:1: reading manifest 1 in 127.0.0.1:5007/priv:"
            " unauthorized: authentication required",
            "authentication required: wrong or missing credentials",
        ),
        (
            '127.0.0.1:1/app:2: pinging container registry 127.0.0.1:1: Get \\"http://'
            '127.0.0.1:1/v2/\\": dial tcp 127.0.0.1:1: connect: connection refused',
            "connection refused (is the registry running?)",
        ),
        (
            "registry.example:5000/a:1: pinging container registry registry.example:5000:"
            ' Get \\"https://registry.example:5000/v2/\\": dial tcp: lookup'
            " registry.example: no such host",
            "unknown registry host",
        ),
        (
            "127.0.0.1:5005/app:1: reading manifest 1 in 127.0.0.1:5005/app: denied:"
            " requested access to the resource is denied",
            "access denied",
        ),
    ],
)
def test_skopeo_failures(message: str, reason: str) -> None:
    assert failure_reason("Getting image source signatures\n" + SKOPEO.format(message)) == reason


def test_invalid_reference_keeps_the_detail() -> None:
    stderr = (
        'time="2026-11-22T03:01:12Z" level=fatal msg="Invalid source name docker://127.0.0.1:'
        '5005/Bad:2: invalid reference format: repository name must be lowercase"'
    )
    assert failure_reason(stderr) == "invalid image reference: repository name must be lowercase"


def test_oci_layout_failures() -> None:
    missing_tag = (
        'time="2026-11-22T03:01:12Z" level=fatal msg="initializing source oci:img:nosuch:'
        ' no descriptor found for reference \\"nosuch\\""'
    )
    assert failure_reason(missing_tag) == "no tag nosuch in the layout"
    no_layout = (
        'time="2026-11-22T03:01:12Z" level=fatal msg="initializing source oci:nolayout:x:'
        ' open nolayout/index.json: no such file or directory"'
    )
    assert failure_reason(no_layout) == "not an OCI image layout"


def test_umoci_failures() -> None:
    assert failure_reason("   \N{VECTOR OR CROSS PRODUCT} tag is not found: nosuch \n") == (
        "no tag nosuch in the layout"
    )
    assert failure_reason(
        "   \N{VECTOR OR CROSS PRODUCT} open CAS: validate: read oci-layout: invalid image detected"
    ) == ("not an OCI image layout")
    assert failure_reason(
        "   \N{VECTOR OR CROSS PRODUCT} create runtime bundle: config.json already exists in b"
    ) == ("create runtime bundle: config.json already exists in b")


def test_distribution_log_failures() -> None:
    bind = (
        'time="2026-11-22T03:01:08Z" level=warning msg="No HTTP secret provided"\n'
        'time="2026-11-22T03:01:08Z" level=fatal msg="listen tcp 127.0.0.1:5005: bind:'
        ' address already in use"\n'
    )
    assert failure_reason(bind) == "address already in use"
    panic = (
        "panic: Unable to parse upload purge configuration: interval missing\n\n"
        "goroutine 1 [running]:\nmain.main()\n\tgithub.com/docker/distribution/main.go:22\n"
    )
    assert failure_reason(panic) == "Unable to parse upload purge configuration: interval missing"


def test_unknown_messages_keep_their_last_clause_or_whole_line() -> None:
    long = SKOPEO.format("x: writing blob: uploading layer: disk quota exceeded")
    assert failure_reason(long) == "disk quota exceeded"
    assert failure_reason("something odd happened\n") == "something odd happened"
    assert failure_reason("") == "unknown error"


def test_secret_never_shows() -> None:
    stderr = SKOPEO.format("x: weird failure for user alice with hunter2 in: it: somewhere")
    assert "hunter2" not in failure_reason(stderr.replace("somewhere", "hunter2"), secret="hunter2")


def test_run_tool_raises_one_line_with_the_action(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text(
        "import sys\nprint('Getting image source signatures')\n"
        + f"sys.stderr.write({SKOPEO.format('a:1: reading manifest 1 in a: manifest unknown')!r})"
        + "\nsys.exit(1)\n"
    )
    with pytest.raises(ImageError) as caught:
        run_tool([sys.executable, str(script)], action="cannot pull a:1")
    assert str(caught.value) == "cannot pull a:1: manifest unknown"


def test_run_tool_names_the_missing_package() -> None:
    with pytest.raises(ImageError, match=r"^cannot pull a:1: skopeo-x is not installed"):
        run_tool(["skopeo-x", "copy"], action="cannot pull a:1")


def test_run_tool_returns_stdout() -> None:
    assert run_tool([sys.executable, "-c", "print('ok')"], action="x") == "ok\n"
