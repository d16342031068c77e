"""The API calls about app networking: network policies between apps, application security
groups."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from yun.client.api import ApiClient, ApiError


class NetworkingClient:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.api._call(method, path, **kwargs)

    def app_in(self, name: str, *, org: str = "", space: str = "") -> dict[str, Any]:
        """The app called `name` in the targeted space, or in `space` of `org`."""
        if not space:
            return self.api.find_app(name)
        where = self.api.space(org, space)
        found = self._call("GET", "/v3/apps", params={"name": name, "space_guid": where["guid"]})
        if not found["resources"]:
            raise ApiError(f"app {name} not found in space {space} of org {org}", 404)
        return dict(found["resources"][0])

    def policies(self, source_app_guid: str = "") -> list[dict[str, Any]]:
        params = {**self.api.space_params()}
        if source_app_guid:
            params["source_app_guid"] = source_app_guid
        return list(self._call("GET", "/v3/network_policies", params=params)["resources"])

    def add_policy(self, **body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v3/network_policies", json=body)
        return result

    def remove_policy(self, guid: str) -> dict[str, Any]:
        path = f"/v3/network_policies/{quote(guid, safe='')}"
        result: dict[str, Any] = self._call("DELETE", path)
        return result

    # application security groups
    def security_groups(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/security_groups")["resources"])

    def security_group(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/security_groups/{quote(name, safe='')}")
        return result

    def create_security_group(self, name: str, rules: list[Any]) -> dict[str, Any]:
        body = {"name": name, "rules": rules}
        result: dict[str, Any] = self._call("POST", "/v3/security_groups", json=body)
        return result

    def update_security_group(self, name: str, rules: list[Any]) -> dict[str, Any]:
        path = f"/v3/security_groups/{quote(name, safe='')}"
        result: dict[str, Any] = self._call("PUT", path, json={"rules": rules})
        return result

    def delete_security_group(self, name: str) -> dict[str, Any]:
        path = f"/v3/security_groups/{quote(name, safe='')}"
        result: dict[str, Any] = self._call("DELETE", path)
        return result

    def bind_security_group(self, name: str, org: str, space: str, *, on: bool) -> dict[str, Any]:
        parts = (quote(part, safe="") for part in (name, org, space))
        path = "/v3/security_groups/{}/organizations/{}/spaces/{}".format(*parts)
        result: dict[str, Any] = self._call("PUT" if on else "DELETE", path)
        return result

    def running_default(self, name: str, *, on: bool) -> dict[str, Any]:
        path = f"/v3/security_groups/{quote(name, safe='')}/running_default"
        result: dict[str, Any] = self._call("PUT" if on else "DELETE", path)
        return result
