"""Following instance output files and handing each complete line to a callback.

Instances write stdout and stderr to files (an agent may die; a pipe would die with it), so the
agent reads them back the way `tail -F` would. The read offsets are saved next to the files, so
an agent that adopts running instances continues where the previous one stopped instead of
sending everything again. A final `unfollow` reads what is left, including an unterminated last
line, before the driver deletes the files.

Where inotify is available (`yun.agent.inotify`), the reader sleeps until a followed file is
written and then reads that file alone; every `SWEEP_EVERY` seconds it looks at the files not
watched yet (not there when followed; a file replaced by another is watched again when the
event of its going comes). Hundreds of idle instances then cost nothing. Without inotify it
looks at every file every `POLL_INTERVAL`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yun.agent.inotify import Watches

log = logging.getLogger(__name__)

# (stream name, line without its newline, wall-clock time it was read)
LineSink = Callable[[str, str, float], None]

POLL_INTERVAL = 0.1
SWEEP_EVERY = 2.0  # with inotify: a look at the files not watched yet
TICK = 0.25  # with inotify: the longest sleep, so offsets are saved and `stop` is prompt
SAVE_EVERY = 0.5  # at most this much output is sent twice after the agent dies without stopping
READ_CHUNK = 1024 * 1024
MAX_LINE = 64 * 1024  # a longer line without a newline is sent in pieces


@dataclass
class _Followed:
    files: Mapping[str, Path]
    offsets_file: Path
    sink: LineSink
    offsets: dict[str, int] = field(default_factory=dict)
    dirty: bool = False
    saved_at: float = 0.0
    watched: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream → (wd, inode)


def _load_offsets(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
        return {str(k): int(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


class LogTailer:
    def __init__(self, *, poll_interval: float = POLL_INTERVAL, inotify: bool = True) -> None:
        self.poll_interval = poll_interval
        self._lock = threading.Lock()  # one reader at a time keeps each stream in order
        self._followed: dict[str, _Followed] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._inotify = inotify
        self._watches: Watches | None = None  # opened by `start`, closed by `stop`
        self._by_wd: dict[int, set[tuple[str, str]]] = {}  # watch → (key, stream) it reports

    def follow(
        self, key: str, *, files: Mapping[str, Path], offsets_file: Path, sink: LineSink
    ) -> None:
        """Start following `files`, from the offsets saved in `offsets_file` if there are any."""
        with self._lock:
            self._forget(key)
            self._followed[key] = _Followed(
                files=dict(files),
                offsets_file=offsets_file,
                sink=sink,
                offsets=_load_offsets(offsets_file),
            )
            self._watch(key, self._followed[key])

    def unfollow(self, key: str) -> None:
        """Read and send what is left of `key`'s files, then forget them."""
        with self._lock:
            followed = self._followed.get(key)
            if followed is not None:
                self._read(followed, final=True)
            self._forget(key)

    def poll(self) -> None:
        """One pass over every followed file (watching those that can be watched now)."""
        with self._lock:
            now = time.monotonic()
            for key, followed in self._followed.items():
                self._watch(key, followed)
                self._read(followed, final=False)
                if followed.dirty and now - followed.saved_at >= SAVE_EVERY:
                    self._save(followed, now)

    def start(self) -> None:
        self._stopping.clear()
        if self._inotify and self._watches is None:
            self._watches = Watches.open()
        self._thread = threading.Thread(target=self._run, name="yun-agent-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread after a last pass, and save every offset."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.poll()
        with self._lock:
            now = time.monotonic()
            for key, followed in list(self._followed.items()):
                if followed.dirty:
                    self._save(followed, now)
                self._forget(key)
            if self._watches is not None:
                self._watches.close()
                self._watches = None

    def _run(self) -> None:
        swept = -math.inf
        while not self._stopping.is_set():
            try:
                if self._watches is None:
                    self.poll()
                else:
                    if time.monotonic() - swept >= SWEEP_EVERY:
                        self._sweep()
                        swept = time.monotonic()
                    self._read_changed()
            except Exception:
                log.exception("reading instance output failed")
            if self._watches is None:
                self._stopping.wait(self.poll_interval)
            else:
                select.select([self._watches], [], [], TICK)

    def _sweep(self) -> None:
        """Read and watch the files not watched yet (not there when followed, or replaced)."""
        with self._lock:
            for key, followed in self._followed.items():
                if len(followed.watched) < len(followed.files):
                    self._watch(key, followed)
                    self._read(followed, final=False)

    def _read_changed(self) -> None:
        """Read the files inotify saw written (and watch a file that replaced one of them);
        save the offsets that are due."""
        assert self._watches is not None
        changed = self._watches.changed()
        with self._lock:
            now = time.monotonic()
            for wd in changed:
                for key, stream in list(self._by_wd.get(wd, ())):
                    followed = self._followed.get(key)
                    if followed is not None:
                        self._watch(key, followed)
                        self._read(followed, final=False, streams=(stream,))
            for followed in self._followed.values():
                if followed.dirty and now - followed.saved_at >= SAVE_EVERY:
                    self._save(followed, now)

    def _watch(self, key: str, followed: _Followed) -> None:
        """Watch each of `followed`'s files not watched yet, or replaced since (a new inode)."""
        if self._watches is None:
            return
        for stream, path in followed.files.items():
            try:
                inode = path.stat().st_ino
            except OSError:
                continue
            watched = followed.watched.get(stream)
            if watched is not None and watched[1] == inode:
                continue
            if watched is not None:  # another file now: read it from its start
                followed.offsets[stream] = 0
            self._unwatch(key, followed, stream)
            wd = self._watches.add(path)
            if wd is not None:
                followed.watched[stream] = (wd, inode)
                self._by_wd.setdefault(wd, set()).add((key, stream))

    def _unwatch(self, key: str, followed: _Followed, stream: str) -> None:
        wd, _ = followed.watched.pop(stream, (None, 0))
        if wd is None:
            return
        users = self._by_wd.get(wd, set())
        users.discard((key, stream))
        if not users:  # a watch is per file: another key may follow the same one
            self._by_wd.pop(wd, None)
            assert self._watches is not None
            self._watches.remove(wd)

    def _forget(self, key: str) -> None:
        followed = self._followed.pop(key, None)
        if followed is not None:
            for stream in list(followed.watched):
                self._unwatch(key, followed, stream)

    def _read(
        self, followed: _Followed, *, final: bool, streams: tuple[str, ...] | None = None
    ) -> None:
        for stream, path in followed.files.items():
            if streams is not None and stream not in streams:
                continue
            offset = followed.offsets.get(stream, 0)
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size < offset:
                offset = 0  # truncated: start over
            while size > offset:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read(min(size - offset, READ_CHUNK))
                if not data:
                    break
                end = data.rfind(b"\n") + 1
                if end == 0:
                    if not final and len(data) < MAX_LINE:
                        break  # wait for the rest of the line
                    end = len(data)
                ts = time.time()
                chunk = data[:end]
                lines = chunk.split(b"\n")
                if chunk.endswith(b"\n"):
                    lines.pop()
                for raw in lines:
                    text = raw.decode("utf-8", errors="replace").removesuffix("\r")
                    self._send(followed, stream, text, ts)
                offset += end
                followed.offsets[stream] = offset
                followed.dirty = True

    @staticmethod
    def _send(followed: _Followed, stream: str, line: str, ts: float) -> None:
        try:
            followed.sink(stream, line, ts)
        except Exception:
            log.exception("log sink failed")

    @staticmethod
    def _save(followed: _Followed, now: float) -> None:
        followed.dirty = False
        followed.saved_at = now
        if not followed.offsets_file.parent.is_dir():
            return  # the instance's directory is gone already
        temporary = followed.offsets_file.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            temporary.write_text(json.dumps(followed.offsets))
            os.replace(temporary, followed.offsets_file)
