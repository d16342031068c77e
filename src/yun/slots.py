"""The node agent's name for one instance slot: process, revision version, index.

The instance controller names the slots it asks the agent for, the reporter reads the names in
the agent's reports, and `yun app` asks the agent for a slot's usage by the same name. The
version is part of the name because a deployment runs two versions of a process side by side;
an instance keeps its slot (and so is not restarted) when its deployment finishes.
"""

from __future__ import annotations


def slot_of(process_guid: str, version: int, index: int) -> str:
    return f"{process_guid}:{version}:{index}"


def parse_slot(slot: str) -> tuple[str, int, int]:
    """(process guid, version, index). Slots named before versions existed (`guid:index`) read
    as version 0: no revision has it, so such an instance drains and is replaced once."""
    parts = slot.split(":")
    if len(parts) == 2:
        return parts[0], 0, int(parts[1])
    process_guid, version, index = parts
    return process_guid, int(version), int(index)
