"""The platform registry and droplet export: how a build leaves this machine as an OCI image.

`yun server` runs a CNCF Distribution registry on loopback (`YUN_REGISTRY_PORT`, 5005 by
default; 0 turns it off) next to HAProxy; like HAProxy it outlives the control plane and is
adopted on the next start. `DropletExporter` puts an app's current build into it as
`127.0.0.1:5005/yun/NAME:vVERSION`: a buildpack droplet becomes an image (stack from the
runtime, deps, app, a launcher that sources .profile.d), a docker app's image is copied as it
was pulled. Other backends (Kubernetes, later) run what they find there.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from yun.api.context import ExportError
from yun.blobstore import BlobStore
from yun.builder.launcher import launcher_path
from yun.droplet_image import repository_name
from yun.registry import ImageError, RegistryServer, export_droplet, push
from yun.settings import Settings
from yun.store.models import App, Droplet, Revision
from yun.store.session import Store

log = logging.getLogger(__name__)

REGISTRY_BINARY = "docker-registry"  # Debian's package of CNCF Distribution


def platform_registry(settings: Settings) -> RegistryServer | None:
    """The registry `yun server` runs, or None when turned off or not installed."""
    if settings.registry_port == 0:
        return None
    if shutil.which(REGISTRY_BINARY) is None:
        log.warning(
            "no platform registry: %s is not installed (apt-get install docker-registry);"
            " droplet export is off",
            REGISTRY_BINARY,
        )
        return None
    return RegistryServer(
        root=settings.registry_dir, port=settings.registry_port, binary=REGISTRY_BINARY
    )


class DropletExporter:
    """Exports an app's current revision into the platform registry; returns the image."""

    def __init__(self, *, store: Store, blobs: BlobStore, registry: RegistryServer) -> None:
        self.store = store
        self.blobs = blobs
        self.registry = registry

    def __call__(self, app_guid: str) -> str:
        try:
            return self._export(app_guid)
        except ImageError as exc:
            raise ExportError(str(exc)) from exc

    def _export(self, app_guid: str) -> str:
        with self.store.session() as session:
            app = session.get(App, app_guid)
            revision = (
                session.get(Revision, app.revision_guid) if app and app.revision_guid else None
            )
            droplet = session.get(Droplet, revision.droplet_guid) if revision else None
            if app is None or revision is None or droplet is None:
                raise ExportError("the app has no staged revision yet: push it first")
            repository = repository_name(app.name)
            tag = f"v{revision.version}"
            command = str(revision.commands.get("web") or "")
            image = dict(droplet.image)
            blob = droplet.blob
        target = f"{self.registry.address}/{repository}:{tag}"
        if image:  # a docker app: the pulled image, unchanged
            return push(Path(image["layout"]), str(image["tag"]), target, tls_verify=False)
        return export_droplet(
            self.blobs.path(blob),
            stack_rootfs=None,
            registry_url=self.registry.url,
            repository=repository,
            tag=tag,
            command=command,
            launcher=launcher_path(),
        )
