"""Runtime drivers: how an instance is actually run (see `base.Driver`)."""

from yun.agent.drivers.base import Driver, ExitStatus, Handle
from yun.agent.drivers.process import ProcessDriver
from yun.agent.drivers.runc import RuncDriver

__all__ = ["Driver", "ExitStatus", "Handle", "ProcessDriver", "RuncDriver"]
