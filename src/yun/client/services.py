"""The API calls about services: brokers, the marketplace, instances, bindings, keys, backups."""

from __future__ import annotations

from typing import Any

from yun.client.api import ApiClient, ApiError


class ServicesClient:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.api._call(method, path, **kwargs)

    # brokers and the marketplace
    def brokers(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/service_brokers")["resources"])

    def create_broker(self, **body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/service_brokers", json=body)
        return result

    def update_broker(self, name: str, **body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/v3/service_brokers/{name}", json=body)
        return result

    def delete_broker(self, name: str) -> None:
        self._call("DELETE", f"/v3/service_brokers/{name}")

    def offerings(self, name: str | None = None) -> list[dict[str, Any]]:
        params = {"name": name} if name else {}
        return list(self._call("GET", "/v3/service_offerings", params=params)["resources"])

    # service instances
    def instances(
        self, name: str | None = None, *, space_guid: str | None = None
    ) -> list[dict[str, Any]]:
        """The service instances of the targeted space (or of `space_guid`), or the one named."""
        where = {"space_guid": space_guid} if space_guid else self.api.space_params()
        params = {"name": name, **where} if name else where
        return list(self._call("GET", "/v3/service_instances", params=params)["resources"])

    def find(self, name: str) -> dict[str, Any]:
        found = self.instances(name)
        if not found:
            raise ApiError(f"service {name} not found; `yun services` lists them", 404)
        return found[0]

    def instance(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/service_instances/{guid}")
        return result

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {**self.api.space_params(), **body}
        result: dict[str, Any] = self._call("POST", "/v3/service_instances", json=body)
        return result

    def update(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/v3/service_instances/{guid}", json=body)
        return result

    def delete(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/service_instances/{guid}")
        return result

    # bindings and keys
    def bindings(self, **filters: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/service_bindings", params=filters)["resources"])

    def binding(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/service_bindings/{guid}")
        return result

    def bind(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/service_bindings", json=body)
        return result

    def unbind(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/service_bindings/{guid}")
        return result

    # backups
    def backups(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/service_instances/{guid}/backups")["resources"])

    def create_backup(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v3/service_instances/{guid}/backups")
        return result

    def backup(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/service_backups/{guid}")
        return result

    def restore(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v3/service_backups/{guid}/actions/restore")
        return result
