"""The API calls of delivery: tasks, cron schedules, webhooks, build triggers, app templates,
pipelines and promotion, usage and the platform backup; a part of `ApiClient`."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any
from urllib.parse import quote

import httpx

from yun.client.errors import ApiError, message_of


class DeliveryCalls:
    """Mixed into `ApiClient`, which sends the calls."""

    _http: httpx.Client

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def space_params(self) -> dict[str, str]:
        raise NotImplementedError

    # tasks
    def run_task(self, guid: str, **body: Any) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if v not in (None, "")}
        result: dict[str, Any] = self._call("POST", f"/v3/apps/{guid}/tasks", json=payload)
        return result

    def tasks(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/apps/{guid}/tasks")["resources"])

    def task(self, guid: str, sequence: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v3/apps/{guid}/tasks/{sequence}")
        return result

    def terminate_task(self, guid: str, sequence: int) -> dict[str, Any]:
        path = f"/v3/apps/{guid}/tasks/{sequence}/actions/cancel"
        result: dict[str, Any] = self._call("POST", path)
        return result

    # webhooks
    def webhooks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/webhooks", params=self.space_params())["resources"])

    def create_webhook(self, **body: Any) -> dict[str, Any]:
        payload = {**self.space_params(), **{k: v for k, v in body.items() if v}}
        result: dict[str, Any] = self._call("POST", "/v3/webhooks", json=payload)
        return result

    def delete_webhook(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/webhooks/{quote(guid, safe='')}")
        return result

    def webhook_deliveries(self, guid: str) -> list[dict[str, Any]]:
        path = f"/v3/webhooks/{quote(guid, safe='')}/deliveries"
        return list(self._call("GET", path)["resources"])

    # platform backup
    def backup(self, out: IO[bytes], progress: Callable[[int], None] | None = None) -> int:
        """Write the platform's backup archive to `out`; its size in bytes."""
        written = 0
        try:
            with self._http.stream(
                "POST", "/v3/admin/backup", timeout=httpx.Timeout(60, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(message_of(response), response.status_code)
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
        except httpx.HTTPError as exc:
            raise ApiError(f"the backup's download failed: {exc}") from exc
        return written

    # usage
    def usage(self, *, org: str | None, since: str) -> dict[str, Any]:
        params = {"since": since, **({"org": org} if org else {})}
        result: dict[str, Any] = self._call("GET", "/v3/usage", params=params)
        return result

    # pipelines and promotion
    def pipelines(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/pipelines")["resources"])

    def find_pipeline(self, name: str, org: str) -> dict[str, Any]:
        for pipeline in self.pipelines():
            if pipeline["name"] == name and pipeline["org"] == org:
                return pipeline
        raise ApiError(f"pipeline {name} not found in org {org} (see `yun pipelines`)", 404)

    def create_pipeline(self, org: str, name: str, stages: list[str]) -> dict[str, Any]:
        body = {"org": org, "name": name, "stages": stages}
        result: dict[str, Any] = self._call("POST", "/v3/pipelines", json=body)
        return result

    def delete_pipeline(self, guid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v3/pipelines/{guid}")
        return result

    def app_in(self, space_guid: str, name: str) -> dict[str, Any] | None:
        """The app called `name` in the space with guid `space_guid`, if there is one."""
        params = {"space_guid": space_guid, "name": name}
        found = self._call("GET", "/v3/apps", params=params)["resources"]
        return dict(found[0]) if found else None

    def promote(self, guid: str, *, to_space: str, test: bool) -> dict[str, Any]:
        body = {"to_space": to_space, "test": test}
        result: dict[str, Any] = self._call("POST", f"/v3/apps/{guid}/actions/promote", json=body)
        return result

    def promotions(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/apps/{guid}/promotions")["resources"])

    # app templates
    def templates(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v3/templates")["resources"])

    def create_from_template(self, template: str, name: str, *, start: bool) -> dict[str, Any]:
        body = {"template": template, "name": name, "start": start, **self.space_params()}
        result: dict[str, Any] = self._call("POST", "/v3/apps/from_template", json=body)
        return result

    # build triggers
    def build_triggers(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/apps/{guid}/build_triggers")["resources"])

    def create_build_trigger(self, guid: str, **body: Any) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if v}
        path = f"/v3/apps/{guid}/build_triggers"
        result: dict[str, Any] = self._call("POST", path, json=payload)
        return result

    def delete_build_trigger(self, guid: str, trigger: str) -> dict[str, Any]:
        path = f"/v3/apps/{guid}/build_triggers/{quote(trigger, safe='')}"
        result: dict[str, Any] = self._call("DELETE", path)
        return result

    # cron schedules
    def schedules(self, guid: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v3/apps/{guid}/schedules")["resources"])

    def schedule(self, guid: str, **body: Any) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if v not in (None, "")}
        result: dict[str, Any] = self._call("POST", f"/v3/apps/{guid}/schedules", json=payload)
        return result

    def unschedule(self, guid: str, name: str) -> dict[str, Any]:
        path = f"/v3/apps/{guid}/schedules/{quote(name, safe='')}"
        result: dict[str, Any] = self._call("DELETE", path)
        return result
