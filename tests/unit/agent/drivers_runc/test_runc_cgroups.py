"""Reading OOM kills and memory use from cgroup v1 and v2 trees (fake trees in tmp dirs)."""

from __future__ import annotations

from pathlib import Path

from yun.agent.drivers.cgroups import (
    Cgroup,
    is_unified,
    oom_kills,
    parse_flat_keyed,
    swap_accounting,
    working_set,
)

V1_OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill {n}\n"
V2_EVENTS = "low 0\nhigh 0\nmax 12\noom 1\noom_kill {n}\noom_group_kill 0\n"


def v1_tree(root: Path, files: dict[str, str]) -> Cgroup:
    directory = root / "memory/yun/c1"
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return Cgroup("/yun/c1", root=root)


def v2_tree(root: Path, files: dict[str, str]) -> Cgroup:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    directory = root / "yun/c1"
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return Cgroup("/yun/c1", root=root)


def test_parse_flat_keyed_skips_junk() -> None:
    assert parse_flat_keyed("a 1\nb two\n\nc 3") == {"a": 1, "c": 3}


def test_oom_kill_counter_of_either_version() -> None:
    assert oom_kills(parse_flat_keyed(V1_OOM_CONTROL.format(n=2))) == 2
    assert oom_kills(parse_flat_keyed(V2_EVENTS.format(n=0))) == 0
    assert oom_kills(parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\n")) is None


def test_v1_oom_killed(tmp_path: Path) -> None:
    assert v1_tree(tmp_path / "a", {"memory.oom_control": V1_OOM_CONTROL.format(n=1)}).oom_killed()
    assert (
        v1_tree(tmp_path / "b", {"memory.oom_control": V1_OOM_CONTROL.format(n=0)}).oom_killed()
        is False
    )


def test_v1_without_the_counter_falls_back_to_failcnt(tmp_path: Path) -> None:
    old = "oom_kill_disable 0\nunder_oom 0\n"
    hit = v1_tree(tmp_path / "a", {"memory.oom_control": old, "memory.failcnt": "5\n"})
    assert hit.oom_killed() is True
    assert v1_tree(tmp_path / "b", {"memory.oom_control": old}).oom_killed() is None


def test_v2_oom_killed(tmp_path: Path) -> None:
    cgroup = v2_tree(tmp_path, {"memory.events": V2_EVENTS.format(n=3)})
    assert cgroup.unified
    assert cgroup.memory_dir == tmp_path / "yun/c1"
    assert cgroup.oom_killed() is True


def test_a_deleted_cgroup_tells_nothing(tmp_path: Path) -> None:
    cgroup = Cgroup("/yun/gone", root=tmp_path)
    assert not cgroup.exists()
    assert cgroup.oom_killed() is None
    assert cgroup.memory_usage() is None


def test_memory_usage_leaves_out_reclaimable_cache(tmp_path: Path) -> None:
    v1 = v1_tree(
        tmp_path / "v1",
        {"memory.usage_in_bytes": "1000\n", "memory.stat": "cache 600\ntotal_inactive_file 400\n"},
    )
    assert v1.memory_usage() == 600
    v2 = v2_tree(
        tmp_path / "v2", {"memory.current": "1000\n", "memory.stat": "inactive_file 100\n"}
    )
    assert v2.memory_usage() == 900
    assert working_set(10, {"total_inactive_file": 50}, unified=False) == 0


def test_swap_accounting(tmp_path: Path) -> None:
    assert not is_unified(tmp_path)
    (tmp_path / "memory").mkdir()
    assert not swap_accounting(tmp_path)
    (tmp_path / "memory/memory.memsw.limit_in_bytes").write_text("-1\n")
    assert swap_accounting(tmp_path)
