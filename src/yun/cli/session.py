"""Opening an authenticated API client from the saved target."""

from __future__ import annotations

from urllib.parse import urlsplit

from yun.cli import config as cli_config
from yun.cli.output import CliError
from yun.client import ApiClient


def client() -> ApiClient:
    config = cli_config.load()
    if not config.token:
        raise CliError(f"not logged in; run `yun login -a {config.api} -u admin -p PASSWORD`")
    return ApiClient(config.api, config.token)


def route_url(host_path: str, router_port: int) -> str:
    """`host.domain/path` → the URL a person opens, through the router's port."""
    host, _, path = host_path.partition("/")
    port = "" if router_port == 80 else f":{router_port}"
    return f"http://{host}{port}/{path}"


def router_host(api: ApiClient) -> str:
    """The address TCP routes listen on: the router's host."""
    router = str(api.info().get("router", "http://127.0.0.1:8080"))
    return urlsplit(router).hostname or "127.0.0.1"


def router_port(api: ApiClient) -> int:
    router = str(api.info().get("router", "http://127.0.0.1:8080"))
    return int(router.rsplit(":", 1)[-1])
