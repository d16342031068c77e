"""HTTPS commands: `yun ca` (the platform CA, for clients to trust), `yun certificates`,
`yun set-certificate` and `yun delete-certificate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client

NameArg = Annotated[
    str, typer.Argument(help="The domain or host it is for, e.g. www.example.com or *.example.com.")
]


def ca() -> None:
    """Print the platform CA's certificate (PEM): trust it to reach the default domain by HTTPS.

    Examples:
      yun ca > yun-ca.pem
      curl --cacert yun-ca.pem https://myapp.apps.localhost:8443/
    """
    with client() as api:
        pem = api.platform_ca()
    print(pem, end="")


def certificates(json_: JsonOpt = False) -> None:
    """List the certificates the router serves besides the platform's, with their expiry."""
    with client() as api:
        found = api.certificates()
    if json_:
        print_json(found)
        return
    if not found:
        console.print("No certificates yet; the default domain uses the platform CA's (yun ca).")
        return
    table = Listing("name", "names", "expires", "days left", "source")
    for row in found:
        table.add_row(
            row["name"],
            ", ".join(row["names"]),
            row["not_after"],
            str(row["days_left"]),
            row["source"],
        )
    console.print(table)


def set_certificate(
    name: NameArg,
    cert: Annotated[
        Path,
        typer.Option("--cert", metavar="FILE", help="The certificate, PEM (chain may follow)."),
    ],
    key: Annotated[Path, typer.Option("--key", metavar="FILE", help="Its private key, PEM.")],
    chain: Annotated[
        Path | None,
        typer.Option("--chain", metavar="FILE", help="Intermediate certificates, PEM."),
    ] = None,
) -> None:
    """Serve HTTPS for a domain or host with this certificate (replaces the one it had).

    Examples:
      yun set-certificate www.example.com --cert fullchain.pem --key privkey.pem
    """
    texts = {}
    for option, path in (("--cert", cert), ("--key", key), ("--chain", chain)):
        if path is None:
            continue
        try:
            texts[option] = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"{option} {path}: cannot read it ({exc})") from exc
    with client() as api:
        made = api.set_certificate(
            name, cert=texts["--cert"], key=texts["--key"], chain=texts.get("--chain", "")
        )
    console.print(
        f"Serving {', '.join(made['names'])} with the certificate for {made['name']}"
        f" (expires {made['not_after']}, in {made['days_left']} days)."
    )


def delete_certificate(name: NameArg) -> None:
    """Stop serving a certificate (its names fall back to the platform's, where it covers them)."""
    with client() as api:
        gone = api.delete_certificate(name)
    console.print(f"Deleted the certificate for {gone['name']}.")
