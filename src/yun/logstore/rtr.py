"""Router access records: how the router's access lines are kept in an app's log and read back.

HAProxy writes one record per request (`yun.router.accesslog.LOG_FORMAT` makes it) and the log
store keeps the records as they come. Each becomes a Cloud Foundry style RTR line only when it
is read (`decode`): formatting costs the rare reader, not every request, and HAProxy writes
little more than numbers.

A record is one line: `MARKER`, the HAProxy backend, the `FIELDS` separated by single blanks
(none of them can hold a blank), then the `CLIENT_FIELDS`, each in double quotes. Records of the
layouts before (`MARKER_V5`, the values as the app got them; `MARKER_V4`, without the trace id)
are still read the same, so an upgrade keeps the lines an app already has. Client values come
from the client, so HAProxy escapes them (its `+E` log option puts a backslash before each `"`,
`\\` and `]`): a client cannot close a quote early or pass for a field. No value can hold a
newline, as HAProxy rejects one in a request line or header.
"""

from __future__ import annotations

import re
import time

MARKER = b"yunrtr6"
MARKER_V5 = b"yunrtr5"  # the layout before, with the values as the app got them
MARKER_V4 = b"yunrtr4"  # the one before that, without `trace_id`
SOURCE = "RTR/0"  # the log store's source of every access line

# In this order; `response_ms` comes second so `response_times` finds it from the line start.
FIELDS = (
    "start_ms",  # when the request began, milliseconds since the epoch
    "response_ms",  # from the request's start to the response's end
    "status",
    "bytes_in",  # bytes from the client
    "bytes_out",  # bytes to the client
    "client",  # address:port
    "server",  # the instance's address:port
    "instance",  # HAProxy's server name for the instance (`<NOSRV>` when none served)
    "termination",  # HAProxy's two-letter session state at the end
    "method",
    "version",
    "made_id",  # the UUID the router made for a request without an id or a valid trace, or -
)
# The values as the client sent them (HAProxy captures them as it reads the headers, which costs
# it less than taking them after its own rules): the RTR line shows them as the app got them,
# with the router's additions made again from the record (`_as_forwarded`).
CLIENT_FIELDS = ("host", "uri", "user_agent", "x_forwarded_for", "request_id", "traceparent")
FIELDS_V5 = (*FIELDS[:-1], "trace_id")
FIELDS_V4 = FIELDS[:-1]
CLIENT_FIELDS_V5 = CLIENT_FIELDS[:-1]
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")  # what the router keeps

_QUOTED = rb'"((?:[^"\\]|\\.)*)"'


def _layout(marker: bytes, fields: tuple[str, ...], client: tuple[str, ...]) -> re.Pattern[bytes]:
    return re.compile(
        re.escape(marker)
        + rb" \S+ "
        + rb" ".join([rb"(\S+)"] * len(fields))
        + rb" "
        + rb" ".join([_QUOTED] * len(client))
    )


_LAYOUTS = {
    marker: (_layout(marker, fields, client), fields, client)
    for marker, fields, client in (
        (MARKER, FIELDS, CLIENT_FIELDS),
        (MARKER_V5, FIELDS_V5, CLIENT_FIELDS_V5),
        (MARKER_V4, FIELDS_V4, CLIENT_FIELDS_V5),
    )
}
# After a newline (one is put before the lines), so only a line's start can match.
_RESPONSE_MS = re.compile(b"\\nyunrtr[456] \\S+ \\d+ (\\d+) ")
# The same, up to the host: response time, status, and (past the other plain fields) the host.
_SUMMARY = re.compile(
    b"\\n"
    + re.escape(MARKER)
    + rb" \S+ \d+ (-?\d+) (\d+) "
    + rb"(?:\S+ ){%d}" % (len(FIELDS) - 3)
    + rb'"([^"\\ ]*)"'
)
_ESCAPE = re.compile(r"\\(.)")
_NO_SERVER = "<NOSRV>"


def is_record(line: bytes) -> bool:
    return line[:8] in _MARKERS


_MARKERS = {marker + b" " for marker in _LAYOUTS}


def response_times(lines: bytes) -> list[int]:
    """The response times of the records in `lines`, in milliseconds, in order.

    Anchored at each line's start, where only HAProxy's own numbers stand; a request that
    ended without a response time (HAProxy writes -1) is left out.
    """
    return [int(ms) for ms in _RESPONSE_MS.findall(b"\n" + lines)]


def summaries(lines: bytes) -> list[tuple[bytes, bytes, int]]:
    """(host, status, response ms) of each record in `lines` of the current layout, in order;
    -1 ms for a request that ended without a response. A host with a quote or a blank (which
    no route has) leaves its record out."""
    return [(host, status, int(ms)) for ms, status, host in _SUMMARY.findall(b"\n" + lines)]


def _client_text(raw: bytes) -> str:
    """A client value as the RTR line shows it: quotes and backslashes stay escaped (the line
    quotes the value), HAProxy's escaped `]` reads as itself."""
    text = raw.decode("utf-8", "replace")
    return _ESCAPE.sub(lambda m: m.group(0) if m.group(1) in '"\\' else m.group(1), text)


def _as_forwarded(plain: dict[str, str], client: dict[str, str]) -> None:
    """The values the app got, from what the client sent and what the router made: its
    address appended to X-Forwarded-For, its UUID as the request id and the trace when the
    client sent none (or an invalid traceparent)."""
    address = plain["client"].rpartition(":")[0]
    sent = {name: "" if value == "-" else value for name, value in client.items()}  # - : none
    received = sent["x_forwarded_for"]
    client["x_forwarded_for"] = f"{received}, {address}" if received else address
    made = "" if plain["made_id"] == "-" else plain["made_id"]
    client["request_id"] = sent["request_id"] or made
    valid = TRACEPARENT.fullmatch(sent["traceparent"])
    del client["traceparent"]
    plain["trace_id"] = valid.group(1) if valid else made.replace("-", "")


def _timestamp(start_ms: int) -> str:
    seconds, millis = divmod(start_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}+0000"


def decode(line: bytes, app_guid: str) -> tuple[float, str, str] | None:
    """(timestamp, source, message) of one record, or None if `line` is not a whole record.

    The message reads like Cloud Foundry's RTR lines, so `yun logs` reads like `cf logs`.
    """
    pattern, fields, client_fields = _LAYOUTS.get(line[:7], (None, (), ()))
    match = pattern.fullmatch(line) if pattern is not None else None
    if match is None:
        return None
    groups = match.groups()
    plain = dict(
        zip(fields, (g.decode("ascii", "replace") for g in groups[: len(fields)]), strict=True)
    )
    client = dict(zip(client_fields, (_client_text(g) for g in groups[len(fields) :]), strict=True))
    if "made_id" in plain:
        _as_forwarded(plain, client)
    if not plain["start_ms"].isdigit():
        return None
    start_ms = int(plain["start_ms"])
    instance = "-" if plain["instance"] == _NO_SERVER else plain["instance"]
    message = (
        f"{client['host']} - [{_timestamp(start_ms)}]"
        f' "{plain["method"]} {client["uri"]} {plain["version"]}"'
        f" {plain['status']} {plain['bytes_in']} {plain['bytes_out']}"
        f' "{client["user_agent"]}" "{plain["client"]}" "{plain["server"]}"'
        f' x_forwarded_for:"{client["x_forwarded_for"]}"'
        f' x_request_id:"{client["request_id"]}"'
        f" response_time_ms:{plain['response_ms']}"
        f' app_id:"{app_guid}" instance:"{instance}" termination:"{plain["termination"]}"'
    )
    if trace_id := plain.get("trace_id"):
        message += f' trace_id:"{trace_id}"'
    return start_ms / 1000, SOURCE, message
