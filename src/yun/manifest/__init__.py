"""Cloud Foundry app manifests with HPE Stackato extensions: parsing, validation, ((vars)).

`parse_manifest` reads a manifest file for `yun push`; `parse_application` validates a single
application (the API calls it on request bodies). Both return frozen, JSON-serialisable models.
`to_manifest` writes an app back out as manifest data, for the CLI to send to the API. Failures
are only ever `ManifestError`, whose text is one line naming the file and field at fault.
"""

from yun.manifest.errors import ManifestError
from yun.manifest.manifests import parse_application, parse_manifest
from yun.manifest.models import (
    AppSpec,
    CronSpec,
    HealthCheck,
    Manifest,
    ProcessSpec,
    StackatoEnvVar,
    StackatoSpec,
)
from yun.manifest.rendering import to_manifest
from yun.manifest.sizes import parse_size
from yun.manifest.stackato import check_min_version

__all__ = [
    "AppSpec",
    "CronSpec",
    "HealthCheck",
    "Manifest",
    "ManifestError",
    "ProcessSpec",
    "StackatoEnvVar",
    "StackatoSpec",
    "check_min_version",
    "parse_application",
    "parse_manifest",
    "parse_size",
    "to_manifest",
]
