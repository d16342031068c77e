"""HTTPS commands: `yun ca` (the platform CA, for clients to trust), `yun certificates`,
`yun set-certificate` (an uploaded certificate, or one ordered by ACME) and
`yun delete-certificate`."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Annotated, Any

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
    """List the certificates the router serves besides the platform's: expiry, where each came
    from, and for ACME ones the state of their orders.

    Examples:
      yun certificates
      yun certificates --json | jq -r '.[] | select(.state == "failed") | .name'
    """
    with client() as api:
        found = api.certificates()
    if json_:
        print_json(found)
        return
    if not found:
        console.print("No certificates yet; the default domain uses the platform CA's (yun ca).")
        return
    table = Listing("name", "names", "expires", "days left", "source", "state")
    errors = []
    for row in found:
        table.add_row(
            row["name"],
            ", ".join(row["names"]),
            row["not_after"] or "-",
            "-" if row["days_left"] is None else str(row["days_left"]),
            row["source"],
            _state(row),
        )
        if row["acme"] and row["acme"]["last_error"]:
            errors.append(f"{row['name']}: {row['acme']['last_error']}")
    console.print(table)
    for line in errors:
        console.print(line, markup=False, highlight=False)


def _state(row: dict[str, Any]) -> str:
    acme = row["acme"]
    if acme is None:
        return str(row["state"])
    if row["state"] == "failed" and acme["next_attempt_at"]:
        return f"failed, retry at {_clock(acme['next_attempt_at'])}"
    if row["state"] == "issued" and acme["renews_at"]:
        return f"issued, renews {acme['renews_at'][:10]}"
    return str(row["state"])


def _clock(iso: str) -> str:
    """An API time (UTC) as this machine's local time of day, or date and time if not today."""
    when = datetime.datetime.fromisoformat(iso).astimezone()
    today = datetime.datetime.now().astimezone().date()
    return when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M")


def set_certificate(
    name: NameArg,
    cert: Annotated[
        Path | None,
        typer.Option("--cert", metavar="FILE", help="The certificate, PEM (chain may follow)."),
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", metavar="FILE", help="Its private key, PEM.")
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option("--chain", metavar="FILE", help="Intermediate certificates, PEM."),
    ] = None,
    acme: Annotated[
        bool,
        typer.Option(
            "--acme",
            help="Order it from an ACME CA (Let's Encrypt by default), answering its HTTP-01"
            " challenge on the router; renewed 30 days before it expires.",
        ),
    ] = False,
    directory: Annotated[
        str,
        typer.Option("--directory", metavar="URL", help="With --acme: the CA's directory URL."),
    ] = "",
    email: Annotated[
        str, typer.Option("--email", metavar="ADDRESS", help="With --acme: your contact address.")
    ] = "",
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="With --acme: return once the order is placed."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", help="With --acme: how long to wait for it."),
    ] = 180.0,
) -> None:
    """Serve HTTPS for a domain or host with this certificate (replaces the one it had), or
    have one ordered from an ACME CA with --acme.

    Examples:
      yun set-certificate www.example.com --cert fullchain.pem --key privkey.pem
      yun set-certificate www.example.com --acme --email ops@example.com
    """
    if acme:
        if cert is not None or key is not None or chain is not None:
            raise CliError("--acme orders the certificate: give it without --cert, --key, --chain")
        _order(name, directory=directory, email=email, wait=not no_wait, timeout=timeout)
        return
    if directory or email:
        option = "--directory" if directory else "--email"
        raise CliError(f"{option} goes with --acme")
    if cert is None or key is None:
        missing = "--cert" if cert is None else "--key"
        raise CliError(f"missing {missing}: give --cert FILE --key FILE, or --acme")
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


def _order(name: str, *, directory: str, email: str, wait: bool, timeout: float) -> None:
    with client() as api:
        made = api.order_certificate(name, directory=directory, email=email)
        console.print(
            f"Ordering a certificate for {made['name']} from {made['acme']['directory']}…",
            markup=False,
            highlight=False,
        )
        if not wait:
            console.print("Follow it with `yun certificates`.", markup=False, highlight=False)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            row = api.certificate(made["name"])
            if row["state"] == "issued":
                console.print(
                    f"Issued: serving {', '.join(row['names'])} (expires {row['not_after']},"
                    f" renews {row['acme']['renews_at']}).",
                    markup=False,
                    highlight=False,
                )
                return
            if row["state"] == "failed":
                retry = row["acme"]["next_attempt_at"]
                raise CliError(
                    f"the order for {made['name']} failed: {row['acme']['last_error']}"
                    + (f" (Yun tries again at {_clock(retry)})" if retry else "")
                )
    raise CliError(
        f"no certificate for {name} after {timeout:.0f}s; it is still being ordered"
        " (see `yun certificates`)"
    )


def delete_certificate(name: NameArg) -> None:
    """Stop serving a certificate (its names fall back to the platform's, where it covers them)."""
    with client() as api:
        gone = api.delete_certificate(name)
    console.print(f"Deleted the certificate for {gone['name']}.")
