"""Yun's builder: stages app bits into a droplet with classic (Heroku / Cloud Foundry) buildpacks.

`stage(request, output=...)` is the whole public surface for the build controller; the agent uses
`launcher_path()` to start instances from an unpacked droplet (see `droplets.unpack`).
"""

from .droplets import unpack as unpack_droplet
from .launcher import launcher_path
from .model import DEFAULT_DETECT_ORDER, StagingError, StagingRequest, StagingResult
from .sandboxing import Sandbox, SandboxSession
from .staging import STACKATO_PIP_VAR, stage

__all__ = [
    "DEFAULT_DETECT_ORDER",
    "STACKATO_PIP_VAR",
    "Sandbox",
    "SandboxSession",
    "StagingError",
    "StagingRequest",
    "StagingResult",
    "launcher_path",
    "stage",
    "unpack_droplet",
]
