"""Server slots: how instances are placed into slots and what the runtime API is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from yun.router import Route, RouterConfig, Server, render_files
from yun.router.runtime import parse_servers_state
from yun.router.slots import (
    RuntimeState,
    assign,
    commands,
    slot_count,
    slot_name,
    slot_number,
    targets,
)

CONFIG = RouterConfig(bind="127.0.0.1", port=8080, run_dir=Path("/run/yun"))


def server(port: int, *, weight: int = 1, index: str = "") -> Server:
    return Server(f"web-{port}", "10.0.0.1", port, weight=weight, instance=index)


def test_slots_come_ahead_of_need_and_never_shrink_at_run_time() -> None:
    assert slot_count(0) == 0  # a stopped app's route: nothing to hold
    assert slot_count(1) == slot_count(16) == 16  # 1 → 16 instances without a reload
    assert slot_count(17) == 32
    assert slot_count(3, running=64) == 64  # fewer instances: the slots stay as they are
    assert slot_count(65, running=64) == 128
    with pytest.raises(ValueError, match="at most 4096"):
        slot_count(5000)


def test_a_server_keeps_its_slot_and_new_ones_take_the_longest_free() -> None:
    a, b, c, d = server(1), server(2), server(3), server(4)
    first = assign((), [a, b, c], 4)
    assert first == (a, b, c, None)
    # b leaves, d comes: d takes the never-used slot 4, not b's slot just emptied.
    second = assign(first, [a, c, d], 4)
    assert second == (a, None, c, d)
    # A new weight is the same server in the same slot.
    heavier = server(3, weight=5)
    assert assign(second, [a, heavier, d], 4) == (a, None, heavier, d)
    with pytest.raises(ValueError, match="do not fit"):
        assign((), [a, b, c], 2)


def test_named_instances_prefer_serving_servers() -> None:
    standby = server(1, weight=0, index="0")
    serving = server(2, index="0")
    other = server(3, index="1")
    assert targets("be_x", (standby, serving, None, other)) == {"be_x/0": 2, "be_x/1": 4}


def test_runtime_commands_change_only_what_changed() -> None:
    a, b, c = server(1), server(2), server(3)
    before = RuntimeState(slots={"be_x": (a, b, None)}, hosts={"x.example.com": "be_x"})
    after = RuntimeState(
        slots={"be_x": (a, None, c)},
        hosts={"x.example.com": "be_x", "y.example.com": "be_x"},
        targets={"be_x/0": 1},
    )
    slot = slot_name("be_x", 1)[:-2]
    assert commands(before, after, "/run/hosts.map", None) == [
        f"set server be_x/{slot}-2 state maint",
        f"set server be_x/{slot}-3 addr 10.0.0.1 port 3",
        f"set server be_x/{slot}-3 weight 1",
        f"set server be_x/{slot}-3 state ready",
        "add map /run/hosts.map y.example.com be_x",
        "set table yun_targets key be_x/0 data.server_id 1",
    ]
    assert commands(after, after, "/run/hosts.map", "/run/instances.map") == []


def test_slot_names_are_unique_across_backends_and_read_back() -> None:
    assert slot_name("be_a", 3) != slot_name("be_b", 3)
    assert slot_number(slot_name("be_a", 12)) == 12
    assert slot_number("idx-0") is None


def test_the_servers_haproxy_reports_become_slots() -> None:
    one, two = slot_name("be_x", 1), slot_name("be_x", 2)
    text = (
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"
        " srv_iweight srv_time_since_last_change srv_check_status srv_check_result"
        " srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id"
        " srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr"
        " srv_agent_port\n"
        f"5 be_x 1 {one} 10.0.0.1 2 4 3 3 7 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0\n"
        f"5 be_x 2 {two} 127.0.0.1 0 5 1 1 7 1 0 0 8 0 0 0 - 1 - 0 0 - - 0\n"
    )
    (slots,) = parse_servers_state(text).values()
    assert slots[0] is not None and (slots[0].address, slots[0].port, slots[0].weight) == (
        "10.0.0.1",
        8080,
        3,
    )
    assert slots[1] is None  # in maintenance: an empty slot


def test_the_layout_ignores_which_servers_fill_the_slots() -> None:
    def route(*servers: Server) -> Route:
        return Route("x.apps.localhost", "", "guid-x", "x", list(servers))

    one = render_files(CONFIG, [route(server(1))])
    three = render_files(CONFIG, [route(server(1), server(2), server(3, weight=7))])
    assert one.layout == three.layout and one.text != three.text
    many = render_files(CONFIG, [route(*(server(n) for n in range(1, 18)))])
    assert many.layout != one.layout  # 17 do not fit 16 slots
    # Rendered against what runs, a server keeps its slot.
    again = render_files(CONFIG, [route(server(2))], previous=three.runtime)
    assert again.runtime.slots["be_guid-x"][1] == server(2)
