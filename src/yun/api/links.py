"""OpenAPI links: from each operation that creates something to the operations that use it,
so that a client generator, or a stateful test, knows that `POST /v3/apps/push` answers the
`guid` that `GET /v3/apps/{guid}` takes.

A link names the target operation and where each of its path parameters comes from: a field
of the creating call's response body, or a constant (a process type is `web`).
"""

from __future__ import annotations

from typing import Any

GUID = {"guid": "$response.body#/guid"}

# creating operation -> (the paths it leads to, and their path parameters)
CREATORS: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("post", "/v3/apps/push"): ("/v3/apps/{guid}", {**GUID, "app_guid": "$response.body#/guid"}),
    ("post", "/v3/routes"): ("/v3/routes/{guid}", GUID),
    ("post", "/v3/service_instances"): ("/v3/service_instances/{guid}", GUID),
    ("post", "/v3/service_bindings"): ("/v3/service_bindings/{guid}", GUID),
    ("post", "/v3/tcp_routes"): ("/v3/tcp_routes/{guid}", GUID),
    ("post", "/v3/builds"): ("/v3/builds/{guid}", GUID),
    ("post", "/v3/service_brokers"): ("/v3/service_brokers/{guid}", GUID),
    ("post", "/v3/service_instances/{guid}/backups"): ("/v3/service_backups/{guid}", GUID),
    ("post", "/v3/organizations"): (
        "/v3/organizations/{name}",
        {"name": "$response.body#/name"},
    ),
    ("post", "/v3/spaces"): (
        "/v3/organizations/{org}/spaces/{name}",
        {"org": "$response.body#/org", "name": "$response.body#/name"},
    ),
    ("post", "/v3/users"): ("/v3/users/{name}", {"name": "$response.body#/name"}),
    ("post", "/v3/quotas"): ("/v3/quotas/{name}", {"name": "$response.body#/name"}),
    ("post", "/v3/domains"): ("/v3/domains/{name}", {"name": "$response.body#/name"}),
}
CONSTANTS = {"type_": "web"}
METHODS = ("get", "put", "post", "patch", "delete")


def _path_parameters(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]


def add_links(document: dict[str, Any]) -> None:
    """Put the links into `document` (the generated OpenAPI document), in place."""
    paths: dict[str, Any] = document.get("paths", {})
    for (method, creator_path), (target, sources) in CREATORS.items():
        creator = paths.get(creator_path, {}).get(method)
        if creator is None:
            continue
        success = next(
            (code for code in creator.get("responses", {}) if code.startswith("2")), None
        )
        if success is None:
            continue
        links: dict[str, Any] = {}
        for path, operations in sorted(paths.items()):
            if path != target and not path.startswith(target + "/"):
                continue
            for verb in METHODS:
                operation = operations.get(verb)
                if operation is None or "operationId" not in operation:
                    continue
                wanted = _path_parameters(operation)
                values = {**CONSTANTS, **sources}
                if not all(name in values for name in wanted):
                    continue  # a parameter the response does not give (a user, a role)
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {name: values[name] for name in wanted},
                }
        if links:
            creator["responses"][success]["links"] = links
