"""Yun's router: HAProxy as the data plane, configured from routes and RUNNING instances.

`render` turns routes into an HAProxy configuration that behaves like Cloud Foundry's gorouter
(and TCP routes into plain TCP proxies, Stackato's harbor);
`HAProxy` runs one master-worker HAProxy and reloads it without dropping connections;
`AccessLogReceiver` streams HAProxy's access log ring and files its lines per app.
"""

from yun.router.accesslog import AccessLogReceiver, AppLines, split_by_app
from yun.router.config import RenderedConfig, render, render_files
from yun.router.errors import ReloadHeld, RouterConfigError, RouterError
from yun.router.haproxy import HAProxy
from yun.router.routes import (
    BALANCING,
    KeyLimits,
    Policy,
    Route,
    RouterConfig,
    Server,
    TcpRoute,
    backend_id,
    backend_name,
    key_entry,
)

__all__ = [
    "BALANCING",
    "AccessLogReceiver",
    "AppLines",
    "HAProxy",
    "KeyLimits",
    "Policy",
    "ReloadHeld",
    "RenderedConfig",
    "Route",
    "RouterConfig",
    "RouterConfigError",
    "RouterError",
    "Server",
    "TcpRoute",
    "backend_id",
    "backend_name",
    "key_entry",
    "render",
    "render_files",
    "split_by_app",
]
