"""Third-party browser assets the dashboard and `/docs` serve: uPlot (the dashboard's charts)
and Swagger UI (the API's documentation page), from the npm registry, served by Yun itself so
that nothing is loaded from the internet.

They are fetched once per machine (`python -m yun.ui.assets`, which `make up` and `make test`
run) with `npm pack` at the versions pinned here, into a cache outside the repository and
outside any `YUN_HOME`: `$YUN_UI_ASSETS`, else `/var/cache/yun/ui-assets` for root and
`~/.cache/yun/ui-assets` for a user. Nothing fetched is committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGES = {"uplot": "1.6.32", "swagger-ui-dist": "5.36.0"}

FILES = {  # the name served under /ui/vendor/ → (package, path inside the package)
    "uplot.min.js": ("uplot", "dist/uPlot.iife.min.js"),
    "uplot.min.css": ("uplot", "dist/uPlot.min.css"),
    "swagger-ui-bundle.js": ("swagger-ui-dist", "swagger-ui-bundle.js"),
    "swagger-ui.css": ("swagger-ui-dist", "swagger-ui.css"),
}


SYSTEM_CACHE = Path("/var/cache/yun/ui-assets")


def cache_root() -> Path:
    """Where `fetch` puts the packages."""
    explicit = os.environ.get("YUN_UI_ASSETS")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return SYSTEM_CACHE
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "yun" / "ui-assets"


def _roots() -> list[Path]:
    """Where `find` looks: the user's own cache, then the machine's (`make up` as root)."""
    return [cache_root()] if os.environ.get("YUN_UI_ASSETS") else [cache_root(), SYSTEM_CACHE]


def package_dir(package: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"{package}-{PACKAGES[package]}"


def find(name: str, root: Path | None = None) -> Path | None:
    """The file served as `name`, if it has been fetched."""
    if name not in FILES:
        return None
    package, inside = FILES[name]
    for folder in [root] if root is not None else _roots():
        path = package_dir(package, folder) / inside
        if path.is_file():
            return path
    return None


def missing(root: Path | None = None) -> list[str]:
    """The packages not fetched yet."""
    return [p for p in PACKAGES if not package_dir(p, root).is_dir()]


def fetch(root: Path | None = None) -> list[str]:
    """Fetch the packages that are missing (`npm pack`); the `name@version` of each fetched."""
    root = root or cache_root()
    fetched = []
    for package in missing(root):
        spec = f"{package}@{PACKAGES[package]}"
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as work:
            subprocess.run(
                ["npm", "pack", "--silent", spec, "--pack-destination", work],
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=work,
            )
            [tarball] = Path(work).glob("*.tgz")
            unpacked = Path(work) / "unpacked"
            _unpack(tarball, unpacked)
            (unpacked / "package").rename(package_dir(package, root))
        fetched.append(spec)
    return fetched


def _unpack(tarball: Path, target: Path) -> None:
    """The package's regular files and folders (Python 3.11.2 has no extraction filters):
    nothing outside `target`, no links, no devices."""
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if (
                member.name.startswith("/")
                or ".." in parts
                or not (member.isfile() or member.isdir())
            ):
                continue
            path = target.joinpath(*parts)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            with source, path.open("wb") as out:
                shutil.copyfileobj(source, out)


def main() -> None:
    if shutil.which("npm") is None:
        sys.exit("yun: npm is needed to fetch the dashboard's assets (apt-get install npm)")
    try:
        fetched = fetch()
    except subprocess.CalledProcessError as exc:
        sys.exit(f"yun: fetching the dashboard's assets failed: {exc}")
    where = cache_root()
    for spec in fetched:
        print(f"==> fetched {spec} into {where}")


if __name__ == "__main__":
    main()
