from pathlib import Path

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
