"""The node agent: runs app instances through a driver, health-checks them and restarts crashes
on Cloud Foundry's schedule, reporting every change to a listener (the instance controller)."""

from yun.agent.backoff import restart_delay
from yun.agent.clock import Clock, MonotonicClock
from yun.agent.drivers import Driver, ExitStatus, Handle, ProcessDriver
from yun.agent.drivers.base import Usage
from yun.agent.specs import (
    AgentListener,
    HealthCheckSpec,
    ImageSpec,
    InstanceReport,
    InstanceSpec,
    InstanceState,
)
from yun.agent.supervisor import Agent

__all__ = [
    "Agent",
    "AgentListener",
    "Clock",
    "Driver",
    "ExitStatus",
    "Handle",
    "HealthCheckSpec",
    "ImageSpec",
    "InstanceReport",
    "InstanceSpec",
    "InstanceState",
    "MonotonicClock",
    "ProcessDriver",
    "Usage",
    "restart_delay",
]
