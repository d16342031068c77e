"""Yun's registry: the platform's OCI registry and the image handling around it.

`RegistryServer` runs CNCF Distribution on loopback for docker-image apps and exported
droplets; `pull`/`push` move images with skopeo; `unpack` makes a runc bundle with umoci and
returns the image's `ImageConfig` (`start_command`, `port` read it the way Docker and Cloud
Foundry do); `export_droplet` turns a droplet into an image; `build_busybox_image` makes a tiny
self-contained image for tests. Failures are `ImageError` / `RegistryError` with one line.
"""

from yun.registry.building import build_busybox_image, export_droplet
from yun.registry.errors import ImageError, RegistryError, failure_reason
from yun.registry.htpasswd import bcrypt_hash, write_htpasswd
from yun.registry.images import (
    ImageConfig,
    manifest_digest,
    parse_image_config,
    port,
    read_image_config,
    start_command,
    unpack,
)
from yun.registry.server import RegistryServer, render_config
from yun.registry.transfer import ImageRef, pull, push

__all__ = [
    "ImageConfig",
    "ImageError",
    "ImageRef",
    "RegistryError",
    "RegistryServer",
    "bcrypt_hash",
    "build_busybox_image",
    "export_droplet",
    "failure_reason",
    "manifest_digest",
    "parse_image_config",
    "port",
    "pull",
    "push",
    "read_image_config",
    "render_config",
    "start_command",
    "unpack",
    "write_htpasswd",
]
