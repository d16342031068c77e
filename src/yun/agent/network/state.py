"""What Yun remembers about attached containers, so a restarted agent can still release them.

CNI plugins are stateless apart from IPAM: to DEL a container the runtime must give the same
container id, network namespace and (since CNI 0.4) the cached ADD result. `AttachmentStore` keeps
that per container in one JSON file under the network's state directory, written atomically
(temporary file + rename) so a crash never leaves half a file. An entry is written *before* ADD
runs, with no result yet, so a crash in the middle still leaves a record for garbage collection.

`host_local_allocations` reads the host-local IPAM plugin's own directory (one file per address,
holding the container id), the second source of truth for addresses whose owner Yun forgot.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class Attachment:
    container_id: str
    netns: str
    ifname: str
    result: Mapping[str, Any] | None  # the ADD result; None while ADD has not finished

    def to_dict(self) -> dict[str, Any]:
        return {
            "netns": self.netns,
            "ifname": self.ifname,
            "result": dict(self.result) if self.result is not None else None,
        }

    @classmethod
    def from_dict(cls, container_id: str, data: Mapping[str, Any]) -> Attachment:
        result = data.get("result")
        return cls(
            container_id=container_id,
            netns=str(data.get("netns", "")),
            ifname=str(data.get("ifname", "eth0")),
            result=result if isinstance(result, dict) else None,
        )


class AttachmentStore:
    """Container id → Attachment, persisted in `path`. Not thread-safe: callers hold a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Attachment]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.warning("network state %s unreadable (%s); moved to %s", self.path, exc, aside)
            os.replace(self.path, aside)
            return {}
        entries = data.get("attachments") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            return {}
        return {
            str(cid): Attachment.from_dict(str(cid), entry)
            for cid, entry in entries.items()
            if isinstance(entry, dict)
        }

    def save(self, attachments: Mapping[str, Attachment]) -> None:
        data = {
            "version": STATE_VERSION,
            "attachments": {cid: a.to_dict() for cid, a in sorted(attachments.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "w") as file:
            json.dump(data, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    def get(self, container_id: str) -> Attachment | None:
        return self.load().get(container_id)

    def put(self, attachment: Attachment) -> None:
        attachments = self.load()
        attachments[attachment.container_id] = attachment
        self.save(attachments)

    def remove(self, container_id: str) -> None:
        attachments = self.load()
        if attachments.pop(container_id, None) is not None:
            self.save(attachments)


def host_local_allocations(directory: Path) -> dict[str, tuple[str, str]]:
    """Address → (container id, ifname) as host-local recorded them in `directory`.

    host-local writes one file per address named by the address, holding
    "<container id>\\r\\n<ifname>" (only the id before plugins 0.8), plus `lock` and
    `last_reserved_ip.<range>` files, which are skipped.
    """
    allocations: dict[str, tuple[str, str]] = {}
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return allocations
    for entry in entries:
        if entry.name == "lock" or entry.name.startswith("last_reserved_ip") or entry.is_dir():
            continue
        try:
            lines = entry.read_text().splitlines()
        except OSError:
            continue
        if lines and lines[0].strip():
            ifname = lines[1].strip() if len(lines) > 1 else "eth0"
            allocations[entry.name] = (lines[0].strip(), ifname)
    return allocations
