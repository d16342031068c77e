"""Kubeconfig files as `yun create-cluster` takes them: read, checked, and made self-contained.

A kubeconfig often names its certificates and keys by path (`client-certificate: ~/.kube/…`);
the platform may run elsewhere, so `flatten` puts their contents in (`…-data`, base64), as
`kubectl config view --flatten` does. `describe` finds the context to use and its server, or
says which field is missing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FILE_FIELDS = {
    "certificate-authority": "certificate-authority-data",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the field."""


@dataclass(frozen=True)
class Described:
    context: str
    server: str


def load(text: str) -> dict[str, Any]:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig: not YAML ({exc.__class__.__name__})") from None
    if not isinstance(config, dict) or not isinstance(config.get("clusters"), list):
        raise KubeconfigError("kubeconfig: no `clusters` list (is it a kubeconfig?)")
    return config


def flatten(text: str, base: Path) -> str:
    """The kubeconfig with every file it names (relative to `base`) put in as data."""
    config = load(text)
    for section, key in (("clusters", "cluster"), ("users", "user")):
        for entry in config.get(section) or []:
            body = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(body, dict):
                continue
            for field, data_field in FILE_FIELDS.items():
                if body.get(field) and not body.get(data_field):
                    path = (base / Path(str(body.pop(field))).expanduser()).resolve()
                    try:
                        body[data_field] = base64.b64encode(path.read_bytes()).decode()
                    except OSError as exc:
                        raise KubeconfigError(
                            f"kubeconfig {section}[{entry.get('name')}].{field}: {path}:"
                            f" {exc.strerror}"
                        ) from None
    return str(yaml.safe_dump(config, sort_keys=False))


def describe(text: str, context: str = "") -> Described:
    """The context to use (the given one, else `current-context`) and its cluster's server."""
    config = load(text)
    name = context or str(config.get("current-context") or "")
    if not name:
        raise KubeconfigError("kubeconfig: no current-context; give --context")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    if name not in contexts:
        known = ", ".join(sorted(str(c) for c in contexts)) or "none"
        raise KubeconfigError(f"kubeconfig: no context {name!r} (contexts: {known})")
    cluster_name = contexts[name].get("cluster")
    clusters = {c.get("name"): c.get("cluster") or {} for c in config["clusters"]}
    server = str(clusters.get(cluster_name, {}).get("server") or "")
    if not server:
        raise KubeconfigError(f"kubeconfig: context {name!r} names no cluster with a server")
    return Described(context=name, server=server)
