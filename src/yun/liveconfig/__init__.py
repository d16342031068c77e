"""The live configuration watch endpoint (`server.ConfigWatchServer`)."""

from yun.liveconfig.server import ConfigWatchServer, app_of

__all__ = ["ConfigWatchServer", "app_of"]
