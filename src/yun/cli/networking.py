"""Network policies as the cf CLI has them: `yun add-network-policy`, `network-policies`,
`remove-network-policy`. Instances of different apps cannot connect to each other on the
container network until a policy lets the source app's reach the destination's ports."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yun.cli import config as cli_config
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client
from yun.client.networking import NetworkingClient

SourceArg = Annotated[str, typer.Argument(metavar="SOURCE_APP", help="The app that connects.")]
DestinationArg = Annotated[
    str | None,
    typer.Argument(metavar="DESTINATION_APP", help="The app connected to (or --destination-app)."),
]
DestinationOpt = Annotated[
    str, typer.Option("--destination-app", metavar="APP", help="The app connected to.")
]
PortOpt = Annotated[
    str, typer.Option("--port", metavar="PORTS", help="A port or a range: 8080, 8080-8090.")
]
ProtocolOpt = Annotated[str, typer.Option("--protocol", metavar="PROTOCOL", help="tcp or udp.")]
SpaceOpt = Annotated[
    str, typer.Option("-s", "--space", metavar="SPACE", help="The destination app's space.")
]
OrgOpt = Annotated[
    str, typer.Option("-o", "--org", metavar="ORG", help="The destination app's org (with -s).")
]


def _destination(positional: str | None, option: str) -> str:
    if positional and option and positional != option:
        raise CliError(f"two destination apps given: {positional} and --destination-app {option}")
    name = positional or option
    if not name:
        raise CliError("the destination app is missing: give DESTINATION_APP or --destination-app")
    return name


def _ends(
    net: NetworkingClient, source: str, destination: str, where: tuple[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source app (in the targeted space) and the destination (in `where`: space, org)."""
    space, org = where
    if org and not space:
        raise CliError("-o ORG names the destination's org: give its space too (-s SPACE)")
    if space and not org:
        org = cli_config.load().org
    return net.api.find_app(source), net.app_in(destination, org=org, space=space)


def _protocol(protocol: str) -> str:
    if protocol.lower() not in ("tcp", "udp"):
        raise CliError(f"--protocol {protocol}: tcp or udp")
    return protocol.lower()


def add_network_policy(
    source: SourceArg,
    destination: DestinationArg = None,
    destination_app: DestinationOpt = "",
    port: PortOpt = "8080",
    protocol: ProtocolOpt = "tcp",
    space: SpaceOpt = "",
    org: OrgOpt = "",
) -> None:
    """Let SOURCE_APP's instances connect to DESTINATION_APP's on the container network.

    Apps find each other by internal routes (`yun map-route APP apps.internal --hostname
    NAME`, then NAME.apps.internal) and connect to the instance's port (8080) directly,
    not through the router. Without a policy those connections are dropped. On a Kubernetes
    cluster the policies become the destination app's NetworkPolicy.

    Examples:
      yun add-network-policy frontend --destination-app backend
      yun add-network-policy frontend backend --port 9000-9010 --protocol udp
      yun add-network-policy frontend --destination-app api -s prod -o acme
    """
    name, wanted = _destination(destination, destination_app), _protocol(protocol)
    with client() as api:
        net = NetworkingClient(api)
        src, dst = _ends(net, source, name, (space, org))
        made = net.add_policy(
            source=src["guid"], destination=dst["guid"], protocol=wanted, ports=port
        )
    console.print(
        f"Added network policy from {src['name']} to {dst['name']}"
        f" ({made['protocol']} port {made['ports']}).",
        markup=False,
        highlight=False,
    )


def network_policies(
    source: Annotated[
        str, typer.Option("--source", metavar="APP", help="Only those from this app.")
    ] = "",
    json_: JsonOpt = False,
) -> None:
    """List the network policies whose source app is in the targeted space.

    Examples:
      yun network-policies
      yun network-policies --source frontend --json | jq -r '.[].destination.name'
    """
    with client() as api:
        net = NetworkingClient(api)
        found = net.policies(api.find_app(source)["guid"] if source else "")
    if json_:
        print_json(found)
        return
    if not found:
        console.print("No network policies (`yun add-network-policy SOURCE_APP DESTINATION_APP`).")
        return
    table = Listing("source", "destination", "protocol", "ports", "destination space", "org")
    for item in found:
        dst = item["destination"]
        table.add_row(
            item["source"].get("name", "?"),
            dst.get("name", "?"),
            item["protocol"],
            item["ports"],
            dst.get("space", ""),
            dst.get("org", ""),
        )
    console.print(table)


def remove_network_policy(
    source: SourceArg,
    destination: DestinationArg = None,
    destination_app: DestinationOpt = "",
    port: PortOpt = "8080",
    protocol: ProtocolOpt = "tcp",
    space: SpaceOpt = "",
    org: OrgOpt = "",
) -> None:
    """Stop SOURCE_APP's instances from opening new connections to DESTINATION_APP's on
    those ports (connections already open are left to finish).

    Examples:
      yun remove-network-policy frontend --destination-app backend
      yun remove-network-policy frontend backend --port 9000-9010 --protocol udp
    """
    name, wanted = _destination(destination, destination_app), _protocol(protocol)
    ports = "-".join(dict.fromkeys(part.strip() for part in port.split("-")))
    with client() as api:
        net = NetworkingClient(api)
        src, dst = _ends(net, source, name, (space, org))
        match = [
            item
            for item in net.policies(src["guid"])
            if item["destination"]["guid"] == dst["guid"]
            and item["protocol"] == wanted
            and item["ports"] == ports
        ]
        for item in match:
            net.remove_policy(item["guid"])
    if not match:
        console.print(
            f"No network policy from {src['name']} to {dst['name']} on {wanted} port {ports};"
            " nothing removed (`yun network-policies`).",
            markup=False,
            highlight=False,
        )
        return
    console.print(
        f"Removed network policy from {src['name']} to {dst['name']} ({wanted} port {ports}).",
        markup=False,
        highlight=False,
    )
