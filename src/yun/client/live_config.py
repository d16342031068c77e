"""The API calls of live configuration, of an app (`app_guid`) or of a space (org, name)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from yun.client.api import ApiClient


class ConfigClient:
    def __init__(self, api: ApiClient, *, app_guid: str = "", space: tuple[str, str] = ("", "")):
        self.api = api
        if app_guid:
            self.base = f"/v3/apps/{quote(app_guid, safe='')}/config"
        else:
            org, name = (quote(part, safe="") for part in space)
            self.base = f"/v3/organizations/{org}/spaces/{name}/config"

    def show(self) -> dict[str, Any]:
        result: dict[str, Any] = self.api._call("GET", self.base)
        return result

    def change(
        self, values: dict[str, str], *, unset: list[str], secret: list[str]
    ) -> dict[str, Any]:
        body = {"values": values, "unset": unset, "secret": secret}
        result: dict[str, Any] = self.api._call("PATCH", self.base, json=body)
        return result

    def history(self) -> list[dict[str, Any]]:
        return list(self.api._call("GET", f"{self.base}/history")["resources"])

    def rollback(self, version: int) -> dict[str, Any]:
        body = {"version": version}
        result: dict[str, Any] = self.api._call("POST", f"{self.base}/rollback", json=body)
        return result
