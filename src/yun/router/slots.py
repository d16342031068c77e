"""Server slots: a backend's servers declared ahead of need, filled and emptied at run time.

Every backend (and every TCP route's `listen`) declares a fixed number of servers, the slots
`s1`…`sN`. An instance takes a free slot through HAProxy's runtime API (`set server … addr`,
`state ready`, `weight`) and leaves it the same way (`state maint`), so a scale step, a crash, a
canary weight or an autoscaler decision changes no configuration file and reloads nothing.
Only what the slots cannot absorb (a new route, a policy, more instances than slots) changes
the layout and takes a reload, and the new configuration then carries every slot's current
server, so the new worker starts with them.

The number of slots is a layout property: at least `MIN_SLOTS`, else the next power of two
above what the route may need, so a route grows a long way before it reloads; a route never
shrinks its slots at run time (that would be a layout change), only when a reload happens
anyway. A server keeps its slot as long as it serves (its connections and sticky clients stay
where they are); a new server takes the free slot that has been free longest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from yun.router.routes import Server, server_address

MIN_SLOTS = 16
MAX_SLOTS = 4096
PLACEHOLDER = "127.0.0.1:1"  # where an empty slot points; it is in maintenance, never used
KEY_MAP = "api_keys.map"  # `<route scope>/<sha256 of a key>` → `<KeyLimits.value>:<sha256>`
KEY_CACHE_PREFIX = "key-cache-"  # a route's cache of keys seen: `key-cache-<scope>.map`
TARGETS_TABLE = "yun_targets"  # `<backend>/<index>` → the slot of that instance
INSTANCE_MAP = "instances.map"  # slot name → the instance in it, for the access log


def slot_name(backend: str, number: int) -> str:
    """The name of `backend`'s slot `number` (from 1): unique in the whole configuration, so
    that the access log finds the slot's instance in one map lookup by name (`INSTANCE_MAP`)."""
    return f"{hashlib.sha256(backend.encode()).hexdigest()[:8]}-{number}"


def slot_number(name: str) -> int | None:
    """The number in a slot's name, or None for a server that is not a slot."""
    tag, _, number = name.rpartition("-")
    return int(number) if len(tag) == 8 and number.isdigit() else None


def slot_count(need: int, running: int | None = None) -> int:
    """How many slots a backend declares for `need` servers; `running`, the count it has now,
    is kept while it suffices."""
    if running is not None and need <= running:
        return running
    if need == 0:
        return 0  # a route of stopped apps: a 503 until they start (which reloads)
    count = MIN_SLOTS
    while count < need and count < MAX_SLOTS:
        count *= 2
    if need > count:
        raise ValueError(f"a route may have at most {MAX_SLOTS} instances, not {need}")
    return count


Slots = tuple[Server | None, ...]


def key(server: Server) -> str:
    """What identifies a server across passes: where it listens."""
    return server_address(server)


def assign(previous: Slots, desired: Sequence[Server], count: int) -> Slots:
    """`desired` placed into `count` slots, each server that was in `previous` kept in its slot
    (with its new weight), new ones in the slots free longest (the last ones first filled)."""
    wanted = {key(server): server for server in desired}
    slots: list[Server | None] = [None] * count
    placed = set()
    for number, server in enumerate(previous[:count]):
        if server is not None and key(server) in wanted and key(server) not in placed:
            slots[number] = wanted[key(server)]
            placed.add(key(server))
    free = [number for number in range(count) if slots[number] is None]
    # Free slots that were never used first, then those emptied: in order past the last one used,
    # so a slot just emptied is reused last (its counters and sticky clients belong to another).
    used = [n for n in range(min(count, len(previous))) if previous[n] is not None]
    start = (max(used) + 1) if used else 0
    free.sort(key=lambda number: (number < start, number))
    for server in desired:
        if key(server) in placed:
            continue
        if not free:
            raise ValueError(f"{len(desired)} servers do not fit {count} slots")
        slots[free.pop(0)] = server
        placed.add(key(server))
    return tuple(slots)


def targets(backend: str, slots: Slots) -> dict[str, int]:
    """`backend/index` → slot number (1-based) of the instance a client may ask for by index;
    a serving server wins over a stand-by one, an earlier over a later."""
    found: dict[str, tuple[bool, int]] = {}
    for number, server in enumerate(slots, start=1):
        if server is None or not server.instance:
            continue
        name = f"{backend}/{server.instance}"
        rank = (server.weight == 0, number)
        if name not in found or rank < found[name]:
            found[name] = rank
    return {name: number for name, (_, number) in found.items()}


@dataclass
class RuntimeState:
    """What the running HAProxy serves that the runtime API can change: every backend's slots,
    the host map, the instance targets and the API key map."""

    slots: dict[str, Slots] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def instances(self) -> dict[str, str]:
        """Slot name → the name of the server in it (what `INSTANCE_MAP` holds)."""
        return {
            slot_name(backend, number): server.name
            for backend, slots in self.slots.items()
            for number, server in enumerate(slots, start=1)
            if server is not None
        }


def _server_commands(
    backend: str, number: int, old: Server | None, new: Server | None
) -> list[str]:
    name = f"{backend}/{slot_name(backend, number)}"
    if new is None:
        return [f"set server {name} state maint"] if old is not None else []
    commands = []
    if old is None or key(old) != key(new):
        address, _, port = server_address(new).rpartition(":")
        if old is not None:  # a server in another's slot: out first, no request in between
            commands.append(f"set server {name} state maint")
        commands.append(f"set server {name} addr {address.removeprefix('ipv6@')} port {port}")
        commands.append(f"set server {name} weight {new.weight}")
        commands.append(f"set server {name} state ready")
    elif old.weight != new.weight:
        commands.append(f"set server {name} weight {new.weight}")
    return commands


def commands(
    before: RuntimeState,
    after: RuntimeState,
    host_map: str,
    instance_map: str | None,
    key_map: str | None = None,
) -> list[str]:
    """Runtime API commands that turn what `before` serves into what `after` does; both have
    the same layout (the same backends and slot counts). `instance_map`: the access log's map
    of slots to instances, when there is an access log; `key_map`: the API key map, when a
    route asks for keys."""
    found: list[str] = []
    for backend, slots in after.slots.items():
        old_slots = before.slots.get(backend, ())
        for number, new in enumerate(slots, start=1):
            old = old_slots[number - 1] if number <= len(old_slots) else None
            found += _server_commands(backend, number, old, new)
    found += map_commands(host_map, before.hosts, after.hosts)
    found += target_commands(before.targets, after.targets)
    if instance_map is not None:
        found += map_commands(instance_map, before.instances(), after.instances())
    if key_map is not None and before.keys != after.keys:
        found += map_commands(key_map, before.keys, after.keys)
        # The routes' caches of keys seen hold what the key map said: they start again.
        folder = key_map.rpartition("/")[0]
        scopes = {entry.partition("/")[0] for entry in (*before.keys, *after.keys)}
        found += [f"clear map {folder}/{KEY_CACHE_PREFIX}{scope}.map" for scope in sorted(scopes)]
    return found


def map_commands(path: str, before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    found = [f"del map {path} {key}" for key in sorted(before.keys() - after.keys())]
    for key, value in sorted(after.items()):
        if key not in before:
            found.append(f"add map {path} {key} {value}")
        elif before[key] != value:
            found.append(f"set map {path} {key} {value}")
    return found


def target_commands(before: Mapping[str, int], after: Mapping[str, int]) -> list[str]:
    found = [
        f"clear table {TARGETS_TABLE} key {name}" for name in sorted(before.keys() - after.keys())
    ]
    found += [
        f"set table {TARGETS_TABLE} key {name} data.server_id {number}"
        for name, number in sorted(after.items())
        if before.get(name) != number
    ]
    return found
