"""Errors of the registry component, and how a tool's stderr becomes one line a user can act on.

skopeo reports failures as logrus lines (`level=fatal msg="initializing source docker://…:
reading manifest 1 in …: manifest unknown: manifest unknown"`), umoci as lines starting with a
cross mark, and Distribution as logrus lines in its log. `failure_reason` keeps only the part
that tells a user what went wrong, so errors read like
`cannot pull localhost:5005/app:1: manifest unknown`.
"""

from __future__ import annotations

import re


class RegistryError(RuntimeError):
    """The registry server could not be started, reached or stopped."""


class ImageError(RuntimeError):
    """An image could not be pulled, pushed, unpacked or built; the message is one line.

    `reason` is the part after "cannot … :", for callers that describe the action themselves.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


_LOGRUS_MSG = re.compile(r'\bmsg="((?:[^"\\]|\\.)*)"')
_UMOCI_LINE = re.compile("^\\s*\N{VECTOR OR CROSS PRODUCT}\\s*(.+?)\\s*$")

# (pattern in the tool's message, what the user is told); the first match wins.
_KNOWN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"manifest unknown|name unknown"), "manifest unknown"),
    (
        re.compile(r"unauthorized|authentication required|invalid username/password"),
        "authentication required: wrong or missing credentials",
    ),
    (re.compile(r"(?:^|: )denied:|access to the resource is denied"), "access denied"),
    (re.compile(r"connection refused"), "connection refused (is the registry running?)"),
    (re.compile(r"no such host"), "unknown registry host"),
    (re.compile(r"address already in use"), "address already in use"),
    (re.compile(r"i/o timeout|deadline exceeded"), "registry did not answer in time"),
    (re.compile(r"server gave HTTP response to HTTPS client"), "registry speaks HTTP, not HTTPS"),
    (re.compile(r"x509|certificate"), "TLS certificate not trusted"),
    (re.compile(r'no descriptor found for reference "([^"]*)"'), r"no tag \1 in the layout"),
    (re.compile(r"tag is not found: (\S+)"), r"no tag \1 in the layout"),
    (re.compile(r"index\.json: no such file|invalid image detected"), "not an OCI image layout"),
    (re.compile(r"invalid reference format(: .*)?"), r"invalid image reference\1"),
)


def _message(stderr: str) -> str:
    """The last error message in a tool's output, unwrapped from logrus or umoci formatting."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    panics = [line for line in lines if line.startswith("panic: ")]
    if panics:  # a Go panic: the first line says why, the goroutine dump after it does not
        return panics[0].removeprefix("panic: ").strip()
    for line in reversed(lines):
        logrus = _LOGRUS_MSG.search(line)
        if logrus and re.search(r"level=(fatal|error|panic)", line):
            return logrus.group(1).replace('\\"', '"').replace("\\\\", "\\")
        umoci = _UMOCI_LINE.match(line)
        if umoci:
            return umoci.group(1)
    return lines[-1].strip() if lines else ""


def failure_reason(stderr: str, *, secret: str | None = None) -> str:
    """One short line saying why skopeo, umoci or Distribution failed; never shows `secret`."""
    message = _message(stderr)
    if secret:
        message = message.replace(secret, "***")
    for pattern, meaning in _KNOWN:
        match = pattern.search(message)
        if match:
            return match.expand(meaning)
    # Unknown: drop the "initializing source docker://…:" style prefix, keep the last clause.
    return message.rsplit(": ", 1)[-1] if message.count(": ") > 2 else message or "unknown error"
