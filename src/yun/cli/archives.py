"""`yun push -p app.jar` (or a .war or .zip): the archive's contents are the app, unpacked
into a throwaway folder before the upload, as `cf push -p` does with archives. Entries that
would land outside the folder (`../x`, absolute paths) make the push stop, naming the entry.
"""

from __future__ import annotations

import tempfile
import zipfile
from contextlib import ExitStack
from pathlib import Path

from yun.cli.output import CliError

ARCHIVE_SUFFIXES = (".jar", ".war", ".zip")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in ARCHIVE_SUFFIXES


def unpacked(path: Path, *, stack: ExitStack, option: str = "-p/--path") -> Path:
    """A folder holding the archive's contents; removed when `stack` closes."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yun-push-")))
    root = folder.resolve()
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                target = (root / entry.filename).resolve()
                if not target.is_relative_to(root):
                    raise CliError(
                        f"{option}: {path} has an entry outside the app: {entry.filename}"
                    )
                archive.extract(entry, root)
                mode = (entry.external_attr >> 16) & 0o777
                if mode and not entry.is_dir():
                    target.chmod(mode | 0o600)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CliError(f"{option}: {path} is not a readable {path.suffix} archive: {exc}") from exc
    return folder
