"""The API calls about a route's API keys and their plans."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from yun.client.api import ApiClient


class ApiKeysClient:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _path(self, route_guid: str, kind: str, name: str = "") -> str:
        path = f"/v3/routes/{quote(route_guid, safe='')}/{kind}"
        return f"{path}/{quote(name, safe='')}" if name else path

    def plans(self, route_guid: str) -> list[dict[str, Any]]:
        return list(self.api._call("GET", self._path(route_guid, "api_plans"))["resources"])

    def set_plan(self, route_guid: str, **body: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api._call(
            "POST", self._path(route_guid, "api_plans"), json=body
        )
        return result

    def delete_plan(self, route_guid: str, name: str) -> None:
        self.api._call("DELETE", self._path(route_guid, "api_plans", name))

    def keys(self, route_guid: str) -> list[dict[str, Any]]:
        return list(self.api._call("GET", self._path(route_guid, "api_keys"))["resources"])

    def create_key(self, route_guid: str, **body: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api._call(
            "POST", self._path(route_guid, "api_keys"), json=body
        )
        return result

    def delete_key(self, route_guid: str, name: str) -> None:
        self.api._call("DELETE", self._path(route_guid, "api_keys", name))
