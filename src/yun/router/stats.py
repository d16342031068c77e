"""HAProxy's counters (`show stat`), read over the stats socket for Yun's metrics.

Rows come back as HAProxy names them (pxname/svname); `routes.backend_id` and
`routes.decode_name` turn them back into Yun backend ids and instance names.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from yun.router.control import send_command


def parse_stat_csv(text: str) -> list[dict[str, str]]:
    """Parse `show stat` CSV: a '# pxname,svname,…' header, one row per proxy/server."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not a 'show stat' answer: {text[:200]!r}")
    header = lines[0][2:]
    body = [line for line in lines[1:] if line.strip()]
    reader = csv.DictReader(io.StringIO("\n".join([header, *body])))
    return [{key: value for key, value in row.items() if key} for row in reader]


def read_stats(
    stats_socket: Path, *, timeout: float = 5.0, backends_only: bool = False
) -> list[dict[str, str]]:
    """Ask the running worker for its counters: of every frontend, backend and server, or of
    the backends alone (`show stat -1 2 -1`: one row per backend, not one per server slot)."""
    command = "show stat -1 2 -1" if backends_only else "show stat"
    return parse_stat_csv(send_command(stats_socket, command, timeout=timeout))
