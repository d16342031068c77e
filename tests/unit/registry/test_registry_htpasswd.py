"""bcrypt htpasswd entries (the bcrypt wheel), as Distribution requires; checked against the
system's libcrypt, another implementation."""

from __future__ import annotations

import ctypes
import stat
from pathlib import Path

import pytest

from yun.registry import bcrypt_hash, write_htpasswd


def _crypt(password: str, setting: str) -> str:
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return str(lib.crypt(password.encode(), setting.encode()).decode())


def test_hash_is_bcrypt_salted_and_verifiable() -> None:
    first, second = bcrypt_hash("s3cret", cost=4), bcrypt_hash("s3cret", cost=4)
    assert first.startswith("$2b$04$") and len(first) == 60
    assert first != second  # fresh salt each time
    assert _crypt("s3cret", first) == first
    assert _crypt("wrong", first) != first


def test_htpasswd_file_is_private_and_has_one_line_per_user(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    write_htpasswd(path, {"alice": "a-pass", "bob": "b-pass"}, cost=4)
    lines = path.read_text().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["alice", "bob"]
    assert _crypt("a-pass", lines[0].split(":", 1)[1]) == lines[0].split(":", 1)[1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["", "a:b", "a\nb"])
def test_bad_user_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid htpasswd user name"):
        write_htpasswd(tmp_path / "h", {name: "x"}, cost=4)
