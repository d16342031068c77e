"""Packing an app folder: .cfignore rules, always-ignored files, digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from yun.cli.bits import scan


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cfignore_and_default_exclusions(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "app.py": "x",
            "manifest.yml": "m",
            ".cfignore": "*.log\n/build/\nnode_modules\n!keep.log\n",
            "debug.log": "l",
            "keep.log": "k",
            "build/out.bin": "b",
            "src/build/x.py": "y",
            "node_modules/a/index.js": "n",
            ".git/config": "g",
            "sub/deep.log": "d",
        },
    )
    paths = [e.path for e in scan(tmp_path)]
    assert paths == ["app.py", "keep.log", "src/build/x.py"]


def test_entries_carry_sha256_and_mode(tmp_path: Path) -> None:
    _tree(tmp_path, {"run.sh": "#!/bin/sh\n"})
    (tmp_path / "run.sh").chmod(0o755)
    (entry,) = scan(tmp_path)
    assert entry.sha256 == hashlib.sha256(b"#!/bin/sh\n").hexdigest()
    assert entry.mode == 0o755
