"""Outgoing webhooks of the targeted space: `yun create-webhook`, `webhooks`, `delete-webhook`,
`webhook-deliveries`."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import Listing, console, print_json
from yun.cli.session import client

GuidArg = Annotated[str, typer.Argument(metavar="ID", help="The webhook's id (`yun webhooks`).")]


def create_webhook(
    url: Annotated[str, typer.Argument(metavar="URL", help="Where to POST the events.")],
    kinds: Annotated[
        str,
        typer.Option(
            "--kinds", metavar="KINDS", help="Which events: deploy, crash, scale, task (commas)."
        ),
    ] = "deploy,crash,scale,task",
    secret: Annotated[
        str | None,
        typer.Option("--secret", metavar="SECRET", help="The signing secret (default: made)."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Send the targeted space's app events to URL as signed JSON.

    Each POST carries X-Yun-Signature-256: sha256=HMAC-SHA256(secret, body), X-Yun-Event (the
    kind) and X-Yun-Delivery (its id); one not answered 2xx is retried after 10 s, 30 s, 1 min,
    5 min, 15 min and 1 h. The secret is shown once, now.

    Examples:
      yun create-webhook https://ci.example.com/hooks/yun --kinds deploy,crash
    """
    wanted = [kind.strip() for kind in kinds.split(",") if kind.strip()]
    with client() as api:
        made = api.create_webhook(url=url, kinds=wanted, secret=secret)
    if json_:
        print_json(made)
        return
    console.print(
        f"Webhook {made['guid']} sends {', '.join(made['kinds'])} events to {made['url']}.",
        markup=False,
        highlight=False,
    )
    console.print(f"secret: {made['secret']}", markup=False, highlight=False)


def webhooks(json_: JsonOpt = False) -> None:
    """List the targeted space's webhooks."""
    with client() as api:
        found = api.webhooks()
    if json_:
        print_json(found)
        return
    if not found:
        console.print("No webhooks in this space (`yun create-webhook URL`).")
        return
    table = Listing("id", "url", "kinds", "by")
    for item in found:
        table.add_row(item["guid"], item["url"], ",".join(item["kinds"]), item["created_by"])
    console.print(table)


def delete_webhook(guid: GuidArg) -> None:
    """Stop sending events to a webhook (its deliveries go with it)."""
    with client() as api:
        gone = api.delete_webhook(guid)
    console.print(f"Deleted webhook {guid} ({gone['url']}).", markup=False, highlight=False)


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def webhook_deliveries(guid: GuidArg, json_: JsonOpt = False) -> None:
    """List a webhook's last 100 deliveries, newest first, with each attempt's status."""
    with client() as api:
        found = api.webhook_deliveries(guid)
    if json_:
        print_json(found)
        return
    if not found:
        console.print(f"Webhook {guid} has sent nothing yet.")
        return
    table = Listing("delivery", "kind", "event", "state", "attempts", "last status", "at (UTC)")
    for item in found:
        attempts = item["attempts"]
        last = attempts[-1] if attempts else None
        status = "" if last is None else str(last["status"] or last["error"])
        table.add_row(
            item["guid"],
            item["kind"],
            item["event_type"],
            item["state"].lower(),
            str(len(attempts)),
            status,
            _when(last["at"]) if last else "",
        )
    console.print(table)
