"""An image layer that tries to write outside its bundle: `../` paths and symlinks pointing
out, with members written through them. umoci unpacks the image for the runc driver; whatever
it does with such members, nothing may land outside the bundle's root filesystem."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from yun.registry.images import unpack

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _hostile_layer() -> tuple[bytes, bytes]:
    """(the gzipped layer, its uncompressed tar) of members that aim outside."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:

        def add(name: str, *, kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o644
            data = b"evil" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("etc/motd")
        add("../../evil-dotdot")
        add("up", kind=tarfile.SYMTYPE, link="../../..")
        add("up/evil-through-link")
        add("abs", kind=tarfile.SYMTYPE, link="/")
        add("abs/tmp/yun-layer-evil")
        add("hard-motd", kind=tarfile.LNKTYPE, link="../../etc/motd")
    raw = plain.getvalue()
    return gzip.compress(raw), raw


def _layout(path: Path) -> Path:
    (path / "blobs" / "sha256").mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layer, raw = _hostile_layer()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(path, json.dumps(config).encode()),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(path, layer)}
        ],
    }
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **_blob(path, json.dumps(manifest).encode()),
                "annotations": {"org.opencontainers.image.ref.name": "evil"},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return path


def test_a_layer_aiming_outside_writes_nothing_outside_the_bundle(tmp_path: Path) -> None:
    """umoci reads every path as if the root filesystem were `/`: `..` stops at the root and
    symlinks resolve inside it, so each member lands inside the bundle and nothing outside."""
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "outside-secret").write_text("keep me")
    layout = _layout(tmp_path / "layout")
    before = sorted(str(p) for p in tmp_path.rglob("*"))

    unpack(layout, "evil", outer / "bundle")

    after = sorted(str(p) for p in tmp_path.rglob("*") if "bundle" not in p.parts)
    assert after == [p for p in before if "bundle" not in Path(p).parts]
    assert (outer / "outside-secret").read_text() == "keep me"
    assert not Path("/tmp/yun-layer-evil").exists()
    rootfs = outer / "bundle" / "rootfs"
    for confined in ("evil-dotdot", "evil-through-link", "tmp/yun-layer-evil", "etc/motd"):
        assert (rootfs / confined).read_bytes() == b"evil", confined
    assert (rootfs / "hard-motd").stat().st_ino == (rootfs / "etc" / "motd").stat().st_ino
