"""`yun k8s render APP`: the app's current revision as the Kubernetes objects the Kubernetes
backend applies, as YAML for kubectl and GitOps (or JSON)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
import yaml

from yun.cli.help import YunTyper
from yun.cli.output import CliError
from yun.cli.session import client

k8s_app = YunTyper(help="Kubernetes: what an app becomes on a cluster.", no_args_is_help=True)


@k8s_app.command("render")
def render(
    name: Annotated[str, typer.Argument(help="App name.")],
    registry: Annotated[
        str, typer.Option(help="Registry the image is named in (HOST[:PORT]).")
    ] = "",
    gateway: Annotated[
        str, typer.Option(help="Attach an HTTPRoute to this Gateway (NAMESPACE/NAME).")
    ] = "",
    ingress_class: Annotated[
        str, typer.Option("--ingress-class", help="Ingress class, when no --gateway.")
    ] = "",
    cluster: Annotated[
        str, typer.Option(help="Render for this cluster: its registry, Gateway or Ingress class.")
    ] = "",
    output: Annotated[str, typer.Option("-o", "--output", help="yaml or json.")] = "yaml",
) -> None:
    """Print the Namespace, Secret, NetworkPolicy, Deployments, Service, HTTPRoute or Ingress,
    autoscaler and disruption budget of the app's current revision. The Secret holds the app's
    environment; the NetworkPolicy lets in what its network policies allow.

    Examples:
      yun k8s render shop | kubectl apply --server-side --field-manager=yun -f -
      yun k8s render shop --gateway infra/public --registry registry.example:5000
    """
    if output not in ("yaml", "json"):
        raise CliError(f"--output {output!r}: use yaml or json")
    with client() as api:
        app = api.find_app(name)
        result = api.kubernetes_objects(
            app["guid"],
            registry=registry,
            gateway=gateway,
            ingress_class=ingress_class,
            cluster=cluster,
        )
    objects = result["objects"]
    if output == "json":
        listed = {"apiVersion": "v1", "kind": "List", "items": objects}
        sys.stdout.write(json.dumps(listed, indent=2) + "\n")
        return
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
