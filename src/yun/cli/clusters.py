"""Cluster commands (admins): `yun create-cluster NAME --kubeconfig PATH`, `yun clusters`,
`yun delete-cluster NAME`, `yun set-space-cluster ORG SPACE CLUSTER`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, age, console, print_json
from yun.cli.session import client
from yun.kube.kubeconfig import KubeconfigError, flatten

ClusterArg = Annotated[
    str, typer.Argument(metavar="NAME", help="The cluster's name (a DNS label).")
]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def create_cluster(
    name: ClusterArg,
    kubeconfig: Annotated[
        Path, typer.Option("--kubeconfig", metavar="PATH", help="The cluster's kubeconfig file.")
    ],
    context: Annotated[
        str, typer.Option(help="Context of the kubeconfig (else its current one).")
    ] = "",
    registry: Annotated[
        str, typer.Option(metavar="REF", help="Registry the cluster pulls app images from.")
    ] = "",
    ingress_class: Annotated[
        str, typer.Option("--ingress-class", help="Expose apps with Ingresses of this class.")
    ] = "",
    gateway: Annotated[
        str,
        typer.Option(
            metavar="GATEWAY", help="Expose apps with HTTPRoutes to this Gateway (NS/NAME)."
        ),
    ] = "",
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Save it without reaching the apiserver first.")
    ] = False,
) -> None:
    """Register a Kubernetes cluster (admins). The kubeconfig is sent with the files it names
    put in, and kept sealed; the apiserver is asked for its version first.

    Examples:
      yun create-cluster prod --kubeconfig ~/.kube/config --context prod --gateway infra/public
    """
    try:
        text = kubeconfig.expanduser().read_text()
    except OSError as exc:
        raise CliError(f"--kubeconfig {kubeconfig}: {exc.strerror}") from None
    try:
        flat = flatten(text, kubeconfig.expanduser().resolve().parent)
    except KubeconfigError as exc:
        raise CliError(f"--kubeconfig {kubeconfig}: {exc}") from None
    body = {
        "name": name,
        "kubeconfig": flat,
        "context": context,
        "registry": registry,
        "ingress_class": ingress_class,
        "gateway": gateway,
        "check": not no_check,
    }
    with client() as api:
        made = api.create_cluster(body)
    reached = f", Kubernetes {made['version']}" if made.get("version") else ""
    _say(f"Cluster {name} registered: {made['server']} (context {made['context']}{reached}).")


def clusters(json_: JsonOpt = False) -> None:
    """List the Kubernetes clusters (admins)."""
    with client() as api:
        found = api.clusters()
    if json_:
        print_json(found)
        return
    table = Listing("name", "server", "registry", "exposure", "spaces", "reach")
    for cluster in found:
        exposure = (
            f"gateway {cluster['gateway']}"
            if cluster["gateway"]
            else f"ingress {cluster['ingress_class'] or '(default class)'}"
        )
        spaces = ", ".join(cluster["spaces"]) or "-"
        table.add_row(
            cluster["name"],
            cluster["server"],
            cluster["registry"] or "-",
            exposure,
            spaces,
            _reach(cluster),
        )
    console.print(table)


def _reach(cluster: dict[str, Any]) -> str:
    """ "answers", "no answer for 5m: REASON", or "-" before the platform has asked it."""
    if cluster.get("reachable") is None:
        return "-"
    if cluster["reachable"]:
        return "answers"
    since = cluster.get("reach_since")
    lasting = f" for {age(time.time() - since)}" if since else ""
    return f"no answer{lasting}: {cluster.get('reach_reason') or 'unknown'}"


def delete_cluster(name: ClusterArg) -> None:
    """Forget a cluster no space is placed on (admins); nothing on the cluster is touched."""
    with client() as api:
        api.delete_cluster(name)
    _say(f"Deleted cluster {name}.")


def set_space_cluster(
    org: Annotated[str, typer.Argument(metavar="ORG", help="The space's org.")],
    space: Annotated[str, typer.Argument(metavar="SPACE", help="The space.")],
    cluster: Annotated[
        str, typer.Argument(metavar="CLUSTER", help="A cluster's name, or local (this machine).")
    ],
) -> None:
    """Run a space's apps on a Kubernetes cluster, or on this machine again (admins). Started
    apps move at once: they start there and stop where they ran.

    Examples:
      yun set-space-cluster main prod prod-cluster
      yun set-space-cluster main prod local
    """
    with client() as api:
        api.set_space_cluster(org, space, cluster)
    where = "this machine" if cluster == "local" else f"cluster {cluster}"
    _say(f"Space {org}/{space} now runs its apps on {where}.")
