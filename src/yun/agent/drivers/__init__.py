"""Runtime drivers: how an instance is actually run (see `base.Driver`)."""

from yun.agent.drivers.base import Driver, ExitStatus, Handle
from yun.agent.drivers.process import ProcessDriver

__all__ = ["Driver", "ExitStatus", "Handle", "ProcessDriver"]
