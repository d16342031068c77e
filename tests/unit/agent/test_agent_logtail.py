import os
import time
from pathlib import Path

import pytest
from tests.helpers import wait_until

from yun.agent.logtail import LogTailer


def _follow(tailer: LogTailer, tmp_path: Path, got: list[tuple[str, str]]) -> None:
    tailer.follow(
        "run-1",
        files={"OUT": tmp_path / "stdout.log", "ERR": tmp_path / "stderr.log"},
        offsets_file=tmp_path / "offsets.json",
        sink=lambda stream, line, ts: got.append((stream, line)),
    )


def test_complete_lines_in_order_and_the_rest_at_the_end(tmp_path: Path) -> None:
    got: list[tuple[str, str]] = []
    tailer = LogTailer()
    _follow(tailer, tmp_path, got)
    tailer.poll()  # files do not exist yet
    (tmp_path / "stdout.log").write_bytes(b"one\r\ntwo\nthr")
    (tmp_path / "stderr.log").write_bytes(b"oops\n")
    tailer.poll()
    assert got == [("OUT", "one"), ("OUT", "two"), ("ERR", "oops")]
    with (tmp_path / "stdout.log").open("ab") as out:
        out.write(b"ee\nfour")
    tailer.poll()
    assert got[3:] == [("OUT", "three")]
    tailer.unfollow("run-1")
    assert got[4:] == [("OUT", "four")]
    tailer.stop()


def test_a_new_tailer_continues_from_the_saved_offsets(tmp_path: Path) -> None:
    first: list[tuple[str, str]] = []
    tailer = LogTailer()
    _follow(tailer, tmp_path, first)
    (tmp_path / "stdout.log").write_bytes(b"a\nb\n")
    tailer.poll()
    tailer.stop()
    with (tmp_path / "stdout.log").open("ab") as out:
        out.write(b"c\n")

    second: list[tuple[str, str]] = []
    again = LogTailer()
    _follow(again, tmp_path, second)
    again.poll()
    again.stop()
    assert first == [("OUT", "a"), ("OUT", "b")]
    assert second == [("OUT", "c")]


def test_invalid_utf8_does_not_stop_the_stream(tmp_path: Path) -> None:
    got: list[tuple[str, str]] = []
    tailer = LogTailer()
    _follow(tailer, tmp_path, got)
    (tmp_path / "stdout.log").write_bytes(b"caf\xe9\nok\n")
    tailer.poll()
    tailer.stop()
    assert got == [("OUT", "caf\ufffd"), ("OUT", "ok")]


@pytest.mark.parametrize("inotify", [True, False])
def test_the_running_tailer_sends_lines_as_they_are_written(tmp_path: Path, inotify: bool) -> None:
    """With inotify a write wakes the reader, and a file made after `follow` is found by the
    sweep. Without inotify every file is polled."""
    (tmp_path / "stdout.log").write_bytes(b"")
    got: list[tuple[str, str]] = []
    tailer = LogTailer(inotify=inotify)
    _follow(tailer, tmp_path, got)
    tailer.start()
    assert (tailer._watches is not None) is inotify
    try:
        with (tmp_path / "stdout.log").open("ab") as out:
            out.write(b"first\n")
        wait_until(lambda: got == [("OUT", "first")])
        (tmp_path / "stderr.log").write_bytes(b"late\n")  # not there when followed
        wait_until(lambda: ("ERR", "late") in got)
        with (tmp_path / "stderr.log").open("ab") as err:
            err.write(b"again\n")
        wait_until(lambda: ("ERR", "again") in got)
        if inotify:  # a file replaced by another is read from the start of the new one
            replacement = tmp_path / "new.log"
            replacement.write_bytes(b"")
            os.replace(replacement, tmp_path / "stdout.log")
            time.sleep(0.5)  # the event of the old file's going: the new one is watched
            with (tmp_path / "stdout.log").open("ab") as out:
                out.write(b"second\n")
            wait_until(lambda: ("OUT", "second") in got)
            got.remove(("OUT", "second"))
        with (tmp_path / "stdout.log").open("ab") as out:
            out.write(b"second\n")
        wait_until(lambda: ("OUT", "second") in got)
    finally:
        tailer.stop()
    assert tailer._watches is None  # its inotify instance is closed
    assert got == [("OUT", "first"), ("ERR", "late"), ("ERR", "again"), ("OUT", "second")]
