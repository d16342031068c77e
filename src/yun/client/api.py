"""ApiClient: one method per API call, errors turned into `ApiError` with the server's sentence."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from yun.client.delivery import DeliveryCalls
from yun.client.errors import ApiError, message_of

__all__ = ["ApiClient", "ApiError", "Tokens"]


def _unreachable(url: str, exc: Exception) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (
            f"the Yun API at {url} has a certificate this machine does not trust ({exc});"
            " point SSL_CERT_FILE at its CA, or log in with --skip-ssl-validation"
        )
    if "WRONG_VERSION_NUMBER" in str(exc) or "record layer failure" in str(exc):
        return f"the Yun API at {url} does not speak HTTPS; use http:// (or the other way round)"
    return f"cannot reach the Yun API at {url}: is `yun server` running?"


Tokens = dict[str, Any]
"""What a login or refresh answers: access_token, refresh_token, expires_in, user, admin."""


class ApiClient(DeliveryCalls):
    """`token` is sent with every call; with `refresh_token`, a call refused for an expired
    token trades it for a new pair, hands that to `on_tokens` (to be saved) and is sent again."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        refresh_token: str = "",
        on_tokens: Callable[[Tokens], None] | None = None,
        verify: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, verify=verify
        )
        self._refresh_token = refresh_token
        self._on_tokens = on_tokens
        self.space_guid = ""  # the targeted space; "" lets the server use its default one
        self.no_space = ""  # why no space is targeted, when none is: calls in a space refuse

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 401 and self._refresh_token and path != "/v3/auth/refresh":
            self.refresh()
            response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(message_of(response), response.status_code)
        return response.json()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ApiError(_unreachable(self.url, exc)) from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"request to {self.url}{path} failed: {exc}") from exc

    def refresh(self) -> Tokens:
        """A new access and refresh token for the refresh token given, now in use here."""
        response = self._send(
            "POST", "/v3/auth/refresh", json={"refresh_token": self._refresh_token}
        )
        if response.status_code >= 400:
            self._refresh_token = ""
            raise ApiError(message_of(response), response.status_code)
        tokens: Tokens = response.json()
        self.use(tokens)
        return tokens

    def use(self, tokens: Tokens) -> None:
        self._http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        self._refresh_token = str(tokens["refresh_token"])
        if self._on_tokens is not None:
            self._on_tokens(tokens)

    # auth and info
    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/v3/info")
        return result

    def login(self, username: str, password: str) -> Tokens:
        body: Tokens = self._call(
            "POST", "/v3/auth/token", json={"username": username, "password": password}
        )
        return body

    def logout(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/auth/logout")
        return result

    # orgs and spaces
    def orgs(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/organizations")["resources"])

    def create_org(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/organizations", json={"name": name})
        return result

    def rename_org(self, name: str, new: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PATCH", f"/v3/organizations/{name}", json={"name": new}
        )
        return result

    def delete_org(self, name: str, *, recursive: bool) -> dict[str, Any]:
        params = {"recursive": "true"} if recursive else {}
        result: dict[str, Any] = self._call("DELETE", f"/v3/organizations/{name}", params=params)
        return result

    def org(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/organizations/{quote(name)}")
        return result

    def quotas(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/quotas")["resources"])

    def create_quota(self, name: str, limits: dict[str, int]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/quotas", json={"name": name, **limits})
        return result

    def update_quota(self, name: str, limits: dict[str, int]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/v3/quotas/{quote(name)}", json=limits)
        return result

    def delete_quota(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/quotas/{quote(name)}")
        return result

    def set_quota(self, org: str, space: str | None, quota: str | None) -> dict[str, Any]:
        """Hold `org` (or its `space`) to `quota`; None: to none."""
        where = f"/v3/organizations/{quote(org)}" + (f"/spaces/{quote(space)}" if space else "")
        result: dict[str, Any] = self._call("PUT", f"{where}/quota", json={"quota": quota})
        return result

    def members(self, org: str, space: str | None = None) -> list[dict[str, Any]]:
        """Who has which role in `org` (or in its `space`)."""
        where = f"/v3/organizations/{quote(org)}" + (f"/spaces/{quote(space)}" if space else "")
        return list(self._call("GET", f"{where}/users")["resources"])

    def set_role(
        self, user: str, org: str, space: str | None, role: str, *, on: bool = True
    ) -> dict[str, Any]:
        """Give `user` the `role` in `org` (or its `space`); with `on` false, take it away."""
        where = f"/v3/organizations/{quote(org)}" + (f"/spaces/{quote(space)}" if space else "")
        path = f"{where}/users/{quote(user, safe='')}/roles/{quote(role, safe='')}"
        result: dict[str, Any] = self._call("PUT" if on else "DELETE", path)
        return result

    def spaces(self, org: str | None = None) -> list[dict[str, Any]]:
        params = {"org": org} if org else {}
        return list(self._call("GET", "/v3/spaces", params=params)["resources"])

    def space(self, org: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/organizations/{org}/spaces/{name}")
        return result

    def create_space(self, org: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/spaces", json={"org": org, "name": name})
        return result

    def rename_space(self, org: str, name: str, new: str) -> dict[str, Any]:
        path = f"/v3/organizations/{org}/spaces/{name}"
        result: dict[str, Any] = self._call("PATCH", path, json={"name": new})
        return result

    def delete_space(self, org: str, name: str, *, recursive: bool) -> dict[str, Any]:
        params = {"recursive": "true"} if recursive else {}
        path = f"/v3/organizations/{org}/spaces/{name}"
        result: dict[str, Any] = self._call("DELETE", path, params=params)
        return result

    # users
    def users(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/users")["resources"])

    def create_user(self, name: str, password: str, *, admin: bool = False) -> dict[str, Any]:
        body = {"name": name, "password": password, "admin": admin}
        result: dict[str, Any] = self._call("POST", "/v3/users", json=body)
        return result

    def delete_user(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/users/{name}")
        return result

    def change_password(self, current: str, new: str) -> dict[str, Any]:
        body = {"current_password": current, "password": new}
        result: dict[str, Any] = self._call("PUT", "/v3/users/me/password", json=body)
        return result

    def rotate_key(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/admin/rotate-key")
        return result

    def revoke_tokens(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/users/{name}/tokens")
        return result

    # apps
    def space_params(self) -> dict[str, str]:
        """The targeted space, for calls that act in one."""
        if self.no_space:
            raise ApiError(self.no_space, 400)
        return {"space_guid": self.space_guid} if self.space_guid else {}

    def apps(self, name: str | None = None) -> list[dict[str, Any]]:
        params = {"name": name, **self.space_params()} if name else self.space_params()
        return list(self._call("GET", "/v3/apps", params=params)["resources"])

    def find_app(self, name: str) -> dict[str, Any]:
        found = self.apps(name)
        if not found:
            raise ApiError(f"app {name} not found", 404)
        return self.app(found[0]["guid"])

    def app(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/apps/{guid}")
        return result

    def push(
        self, application: dict[str, Any], *, source: str, index: int, start: bool = True
    ) -> dict[str, Any]:
        body = {
            "application": application,
            "source": source,
            "index": index,
            "start": start,
            **self.space_params(),
        }
        result: dict[str, Any] = self._call("POST", "/v3/apps/push", json=body)
        return result

    def action(self, guid: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v3/apps/{guid}/actions/{action}", json=body)
        return result

    # autoscaling
    def autoscale(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/apps/{guid}/autoscale")
        return result

    def set_autoscale(self, guid: str, policy: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/v3/apps/{guid}/autoscale", json=policy)
        return result

    def delete_autoscale(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/apps/{guid}/autoscale")
        return result

    # routes
    def routes(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/routes", params=self.space_params())["resources"])

    def update_route(self, guid: str, options: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/v3/routes/{guid}", json=options)
        return result

    def find_routes(self, *, domain: str, host: str, path: str) -> list[dict[str, Any]]:
        params = {"domain": domain, "host": host, "path": path}
        return list(self._call("GET", "/v3/routes", params=params)["resources"])

    def create_route(self, *, domain: str, host: str, path: str) -> dict[str, Any]:
        body = {"domain": domain, "host": host, "path": path, **self.space_params()}
        result: dict[str, Any] = self._call("POST", "/v3/routes", json=body)
        return result

    def delete_route(self, guid: str) -> None:
        self._call("DELETE", f"/v3/routes/{guid}")

    def map_route(self, guid: str, *, app_guid: str, process_type: str = "web") -> dict[str, Any]:
        body = {"app": app_guid, "process_type": process_type}
        result: dict[str, Any] = self._call("POST", f"/v3/routes/{guid}/destinations", json=body)
        return result

    def unmap_route(self, guid: str, *, app_guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/routes/{guid}/destinations/{app_guid}")
        return result

    # certificates
    def platform_ca(self) -> str:
        return str(self._call("GET", "/v3/ca")["pem"])

    def certificates(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/certificates")["resources"])

    def set_certificate(self, name: str, *, cert: str, key: str, chain: str) -> dict[str, Any]:
        body = {"cert": cert, "key": key, "chain": chain}
        result: dict[str, Any] = self._call("PUT", f"/v3/certificates/{name}", json=body)
        return result

    def certificate(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/certificates/{name}")
        return result

    def order_certificate(self, name: str, *, directory: str, email: str) -> dict[str, Any]:
        body = {"acme": {"directory": directory, "email": email}}
        result: dict[str, Any] = self._call("PUT", f"/v3/certificates/{name}", json=body)
        return result

    def delete_certificate(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/certificates/{name}")
        return result

    # domains
    def domains(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/domains")["resources"])

    def create_domain(
        self, name: str, *, org: str | None = None, internal: bool = False
    ) -> dict[str, Any]:
        body = {"name": name, "org": org, "internal": internal}
        result: dict[str, Any] = self._call("POST", "/v3/domains", json=body)
        return result

    def delete_domain(self, name: str, *, force: bool = False) -> dict[str, Any]:
        params = {"force": "true"} if force else {}
        result: dict[str, Any] = self._call("DELETE", f"/v3/domains/{name}", params=params)
        return result

    # deployments and revisions
    def deployments(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/apps/{guid}/deployments")["resources"])

    def revisions(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/apps/{guid}/revisions")["resources"])

    def scale(self, guid: str, process_type: str, **changes: int | None) -> dict[str, Any]:
        body = {k: v for k, v in changes.items() if v is not None}
        result: dict[str, Any] = self._call(
            "PATCH", f"/v3/apps/{guid}/processes/{process_type}", json=body
        )
        return result

    def env(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/apps/{guid}/env")
        return result

    def update_env(self, guid: str, changes: dict[str, str | None]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PATCH", f"/v3/apps/{guid}/environment_variables", json=changes
        )
        return result

    def delete(self, guid: str) -> None:
        self._call("DELETE", f"/v3/apps/{guid}")

    def platform_events(self, **filters: str | int) -> list[dict[str, Any]]:
        params = {key: value for key, value in filters.items() if value not in ("", None)}
        return list(self._call("GET", "/v3/events", params=params)["resources"])

    def latest_metrics(self) -> dict[str, Any]:
        """The newest sample of every app the caller may see, with its instances'."""
        found: dict[str, Any] = self._call("GET", "/v3/metrics/apps")
        return found

    def app_metrics(self, guid: str, since: str = "1h") -> dict[str, Any]:
        found: dict[str, Any] = self._call(
            "GET", f"/v3/apps/{guid}/metrics", params={"since": since}
        )
        return found

    def events(self, guid: str, limit: int = 50) -> list[dict[str, Any]]:
        return list(
            self._call("GET", f"/v3/apps/{guid}/events", params={"limit": limit})["resources"]
        )

    # bits and builds
    def resource_match(self, resources: list[dict[str, Any]]) -> set[str]:
        body = self._call("POST", "/v3/resource_match", json={"resources": resources})
        return set(body["known"])

    def upload_bits(self, chunks: Iterable[bytes]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST",
            "/v3/bits",
            content=chunks,
            headers={"Content-Type": "application/x-tar"},
            timeout=600,
        )
        return result

    def create_package(self, guid: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/v3/apps/{guid}/packages", json={"resources": resources}
        )
        return result

    def create_docker_package(
        self, guid: str, *, image: str, username: str | None, password: str | None
    ) -> dict[str, Any]:
        data = {"image": image, "username": username, "password": password}
        result: dict[str, Any] = self._call(
            "POST", f"/v3/apps/{guid}/packages", json={"type": "docker", "data": data}
        )
        return result

    def create_cluster(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/clusters", json=body, timeout=60.0)
        return result

    def clusters(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v3/clusters")["resources"]
        return result

    def set_space_cluster(self, org: str, space: str, cluster: str) -> dict[str, Any]:
        path = f"/v3/organizations/{quote(org)}/spaces/{quote(space)}/cluster"
        result: dict[str, Any] = self._call("PUT", path, json={"cluster": cluster})
        return result

    def bind_route_service(self, route_guid: str, service: str) -> dict[str, Any]:
        body = {"service_instance": service}
        path = f"/v3/routes/{quote(route_guid)}/route_service"
        result: dict[str, Any] = self._call("PUT", path, json=body)
        return result

    def unbind_route_service(self, route_guid: str) -> dict[str, Any]:
        path = f"/v3/routes/{quote(route_guid)}/route_service"
        result: dict[str, Any] = self._call("DELETE", path)
        return result

    def set_space_runtime(self, org: str, space: str, runtime: str) -> dict[str, Any]:
        path = f"/v3/organizations/{quote(org)}/spaces/{quote(space)}/runtime"
        result: dict[str, Any] = self._call("PUT", path, json={"runtime": runtime})
        return result

    def delete_cluster(self, name: str) -> None:
        self._call("DELETE", f"/v3/clusters/{quote(name)}")

    def kubernetes_objects(self, guid: str, **options: str) -> dict[str, Any]:
        params = {key: value for key, value in options.items() if value}
        result: dict[str, Any] = self._call("GET", f"/v3/apps/{guid}/kubernetes", params=params)
        return result

    def export_droplet(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/v3/apps/{guid}/droplets/current/export", timeout=600.0
        )
        return result

    def create_build(
        self, package_guid: str, *, start: bool = True, release: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"package_guid": package_guid, "start": start, **(release or {})}
        result: dict[str, Any] = self._call("POST", "/v3/builds", json=body)
        return result

    def build(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/builds/{guid}")
        return result

    # logs
    def recent_logs(
        self, guid: str, limit: int = 1000, **filters: Any
    ) -> tuple[list[dict[str, Any]], int]:
        """The app's last lines that pass `filters` (source, instance, since, grep), oldest
        first, and the offset a stream goes on from. The store keeps lines in the order they
        arrived, and sources write late (the router after a response, a buffered app): sort
        on time, the sort being stable so lines of one moment keep their order."""
        params = {"limit": limit, **{k: v for k, v in filters.items() if v not in (None, "")}}
        page = self._call("GET", f"/v3/apps/{guid}/logs", params=params)
        return sorted(page["lines"], key=lambda line: float(line["ts"])), int(page["offset"])

    def stream_logs(
        self,
        guid: str,
        *,
        offset: int = -1,
        build: str | None = None,
        on_open: Callable[[], None] | None = None,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """The app's lines as they come, from `offset` (-1: now) that pass `filters` (source,
        instance, grep); a line with `dropped` says how many this reader missed."""
        params: dict[str, Any] = {"offset": offset}
        params.update({k: v for k, v in filters.items() if v not in (None, "")})
        if build:
            params["build"] = build
        try:
            with self._http.stream(
                "GET",
                f"/v3/apps/{guid}/logs/stream",
                params=params,
                timeout=httpx.Timeout(60, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(message_of(response), response.status_code)
                if on_open is not None:
                    on_open()
                for raw in response.iter_lines():
                    if raw.strip():
                        item = json.loads(raw)
                        if item:
                            yield item
        except httpx.ConnectError as exc:
            raise ApiError(_unreachable(self.url, exc)) from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"log stream ended: {exc}") from exc

    # stacks
    def stacks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/stacks")["resources"])

    def build_stack(self, name: str) -> Iterator[str]:
        """Rebuild a stack: the build's lines as they come, ending `OK …` or `FAILED …`."""
        try:
            with self._http.stream(
                "POST", f"/v3/stacks/{name}/build", timeout=httpx.Timeout(60, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(message_of(response), response.status_code)
                yield from response.iter_lines()
        except httpx.ConnectError as exc:
            raise ApiError(f"cannot reach the Yun API at {self.url}") from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"the stack build's output ended early: {exc}") from exc

    # TCP routes
    def tcp_routes(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/tcp_routes")["resources"])

    def create_tcp_route(
        self, app_guid: str, *, name: str = "tcp", port: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"app": app_guid, "name": name}
        if port is not None:
            body["port"] = port
        result: dict[str, Any] = self._call("POST", "/v3/tcp_routes", json=body)
        return result

    def delete_tcp_route(self, guid: str) -> None:
        self._call("DELETE", f"/v3/tcp_routes/{guid}")
