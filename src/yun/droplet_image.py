"""How a droplet looks as an OCI image (`yun droplet export`, the Kubernetes backend): where its
parts sit and what repository it is pushed to. Shared by the registry, which builds the image,
and the Kubernetes renderer, which runs it."""

from __future__ import annotations

import re

APP_DIR = "/home/vcap/app"
DEPS_DIR = "/home/vcap/deps"
LAUNCHER = "/home/vcap/launcher.sh"


def repository_name(app_name: str) -> str:
    """A registry repository for an app: lowercase, [a-z0-9] separated by single . _ -."""
    name = re.sub(r"[^a-z0-9]+", "-", app_name.lower()).strip("-") or "app"
    return f"yun/{name}"
