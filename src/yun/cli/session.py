"""Opening an authenticated API client from the saved target."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from yun.cli import config as cli_config
from yun.cli.config import CliConfig
from yun.cli.output import CliError
from yun.client import ApiClient, ApiError
from yun.client.api import Tokens

REFRESH_AHEAD = 30.0  # seconds: an access token this close to its end is refreshed first


def client() -> ApiClient:
    config = cli_config.load()
    if not config.token:
        raise CliError(f"not logged in; run `yun login -a {config.api} -u admin -p PASSWORD`")

    def keep(tokens: Tokens) -> None:
        remember(config, tokens)
        cli_config.save(config)

    api = ApiClient(
        config.api,
        config.token,
        refresh_token=config.refresh_token,
        on_tokens=keep,
        verify=not config.skip_ssl_validation,
    )
    api.space_guid = config.space_guid
    if not config.org:
        api.no_space = "no org and space targeted; run `yun target -o ORG -s SPACE`"
    elif not config.space:
        api.no_space = f"no space targeted in org {config.org}; run `yun target -s SPACE`"
    if config.refresh_token and config.expires_at - time.time() < REFRESH_AHEAD:
        with cli_config.locked():
            fresh = cli_config.load()  # another `yun` may have refreshed meanwhile
            try:
                if fresh.token != config.token and fresh.expires_at - time.time() >= REFRESH_AHEAD:
                    api.use(_saved(fresh))
                else:
                    api.refresh()
            except ApiError as exc:
                api.close()
                raise CliError(f"{exc}") from None
    return api


def remember(config: CliConfig, tokens: Tokens) -> None:
    """Put a login's or refresh's tokens into `config` (not saved yet)."""
    config.token = str(tokens["access_token"])
    config.refresh_token = str(tokens.get("refresh_token") or "")
    config.expires_at = time.time() + float(tokens.get("expires_in") or 0)


def _saved(config: CliConfig) -> Tokens:
    return {
        "access_token": config.token,
        "refresh_token": config.refresh_token,
        "expires_in": max(0.0, config.expires_at - time.time()),
    }


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
