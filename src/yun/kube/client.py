"""One Kubernetes cluster, reached with the official client (`kubernetes`): server-side apply of
rendered objects with field manager `yun`, reads and deletes by kind and name.

Server-side apply is what makes applying idempotent: the apiserver merges what Yun owns, and an
object applied again unchanged keeps its generation. Conflicts with other managers are taken
over (`force`), since Yun is the owner of what it renders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, CoreV1Api, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError, ResourceNotFoundError

from yun.kube.render import MANAGER

_FAILED = (DynamicApiError, ApiException, OSError, urllib3.exceptions.HTTPError)
"""What a call to the cluster may raise: a refusal (with the apiserver's Status) or no answer."""


READ_TIMEOUT = 300
"""Seconds a followed log may stay silent before its stream is opened again."""
CALL_TIMEOUT = (5, 60)
"""Seconds to connect and to wait for an answer: an apiserver that does not answer must not
hold up the controller that asked (it is then asked again later, see `yun.kube.reach`)."""


class KubeError(Exception):
    """The cluster refused or could not be reached; the message says which object and why.
    `unreachable`: it gave no answer at all (no connection, a timeout, a TLS failure)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class MissingKind(KubeError):
    """The cluster does not serve that kind (a CRD not installed, an API group turned off)."""


class LogStream:
    """A container's output as the apiserver streams it: lines (with the runtime's timestamp
    first) until the container ends or `close` is called, from any thread."""

    def __init__(self, response: urllib3.BaseHTTPResponse, what: str) -> None:
        self._response = response
        self._what = what

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response
        except _FAILED as exc:
            raise _failure(f"{self._what}: ", exc) from None

    def close(self) -> None:
        try:
            self._response.shutdown()
        except (RuntimeError, ValueError):
            return  # it ended by itself (its connection is back in the pool), or never began
        except _FAILED:
            pass
        self._response.release_conn()


class KubeCluster:
    def __init__(self, kubeconfig: Path, *, context: str | None = None) -> None:
        try:
            self.api: ApiClient = kube_config.new_client_from_config(
                config_file=str(kubeconfig), context=context
            )
        except (kube_config.ConfigException, OSError, ValueError) as exc:
            raise KubeError(f"kubeconfig {kubeconfig}: {exc}") from None
        self._dynamic: DynamicClient | None = None

    @classmethod
    def from_text(cls, kubeconfig: str, *, context: str = "") -> KubeCluster:
        """A cluster from a kubeconfig held as text (as the store keeps it, flattened)."""
        cluster = cls.__new__(cls)
        try:
            cluster.api = kube_config.new_client_from_config_dict(
                yaml.safe_load(kubeconfig), context=context or None
            )
        except (kube_config.ConfigException, yaml.YAMLError, OSError, ValueError) as exc:
            raise KubeError(f"kubeconfig: {exc}") from None
        cluster._dynamic = None
        return cluster

    def version(self) -> str:
        """The apiserver's version (`/version`'s gitVersion): a cheap check that it answers."""
        try:
            info = VersionApi(self.api).get_code(_request_timeout=10)
        except _FAILED as exc:
            raise _failure("the cluster does not answer: ", exc) from None
        return str(info.git_version)

    def close(self) -> None:
        self.api.close()

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:  # discovery asks the apiserver: only when first needed
            try:
                self._dynamic = DynamicClient(self.api)
            except _FAILED as exc:
                raise _failure("the cluster's API cannot be read: ", exc) from None
        return self._dynamic

    def _resource(self, api_version: str, kind: str) -> Any:
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise MissingKind(f"the cluster has no {kind} ({api_version})") from None
        except _FAILED as exc:
            raise _failure(f"the cluster's {api_version} API cannot be read: ", exc) from None

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply `obj`; the object as the apiserver now has it (or would have it,
        with `dry_run`)."""
        resource = self._resource(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        try:
            applied = self.dynamic.server_side_apply(
                resource,
                body=dict(obj),
                name=metadata.get("name"),
                namespace=metadata.get("namespace"),
                field_manager=MANAGER,
                force_conflicts=True,
                dry_run="All" if dry_run else None,
                _request_timeout=CALL_TIMEOUT,
            )
        except _FAILED as exc:
            raise _failure(f"{_named(obj)}: ", exc) from None
        result: dict[str, Any] = applied.to_dict()
        return result

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        resource = self._resource(api_version, kind)
        try:
            found = resource.get(name=name, namespace=namespace, _request_timeout=CALL_TIMEOUT)
        except NotFoundError:
            return None
        except _FAILED as exc:
            raise _failure(f"{kind} {name}: ", exc) from None
        result: dict[str, Any] = found.to_dict()
        return result

    def list(
        self, api_version: str, kind: str, *, namespace: str | None = None, labels: str = ""
    ) -> list[dict[str, Any]]:
        resource = self._resource(api_version, kind)
        try:
            found = resource.get(
                namespace=namespace, label_selector=labels or None, _request_timeout=CALL_TIMEOUT
            )
        except _FAILED as exc:
            raise _failure(f"{kind} list: ", exc) from None
        return [item.to_dict() for item in found.items]

    def follow_log(
        self, pod: str, namespace: str, *, container: str, since: int | None = None
    ) -> LogStream:
        """Follow a pod's container output (the last `since` seconds of it, else all)."""
        what = f"logs of pod {pod} in {namespace}"
        try:
            response: Any = CoreV1Api(self.api).read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                follow=True,
                timestamps=True,
                since_seconds=since,
                _preload_content=False,
                _request_timeout=(10, READ_TIMEOUT),
            )
        except _FAILED as exc:
            raise _failure(f"{what}: ", exc) from None
        return LogStream(response, what)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete the object (its dependents in the background); False when it was gone."""
        resource = self._resource(api_version, kind)
        try:
            resource.delete(
                name=name,
                namespace=namespace,
                propagation_policy="Background",
                _request_timeout=CALL_TIMEOUT,
            )
        except NotFoundError:
            return False
        except _FAILED as exc:
            raise _failure(f"{kind} {name}: ", exc) from None
        return True


def _failure(what: str, exc: Exception) -> KubeError:
    """`what` and the apiserver's reason; unreachable when no answer came at all."""
    answered = isinstance(exc, DynamicApiError | ApiException) and bool(getattr(exc, "status", 0))
    return KubeError(f"{what}{_reason(exc)}", unreachable=not answered)


def _named(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    where = f" in {metadata['namespace']}" if metadata.get("namespace") else ""
    return f"{obj.get('kind')} {metadata.get('name')}{where}"


def _reason(exc: Exception) -> str:
    """The apiserver's own message when it gave one (a Status), else the error's text."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes | str):
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    summary = getattr(exc, "summary", None)
    if callable(summary):
        return str(summary())
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
