"""`yun stacks` (Cloud Foundry's `cf stacks`, with the runtimes each gives) and
`yun stack update NAME` (build a stack anew, its progress shown as it goes)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from yun.cli.help import YunTyper
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, print_json
from yun.cli.session import client

stack_app = YunTyper(help="Work with one stack.", no_args_is_help=True)
RUNTIMES = (("python", "Python"), ("node", "Node.js"), ("java", "Java"), ("go", "Go"))


def stacks(json_: JsonOpt = False) -> None:
    """List the stacks apps run on, the runtime versions each gives, and whether it is built.

    An app gets the default stack unless its manifest names one (`stack:`) or it declares a
    runtime version (.python-version, runtime.txt, requires-python, engines.node) that only
    another stack gives. A stack is built on first use.

    Examples:
      yun stacks
      yun stacks --json | jq -r '.[] | select(.built) | .name'
    """
    with client() as api:
        found = api.stacks()
    if json_:
        print_json(found)
        return
    table = Listing("name", "description", "runtimes", "built", "default")
    for stack in found:
        table.add_row(
            stack["name"],
            stack["description"],
            _runtimes(stack["runtimes"]),
            _built(stack),
            "yes" if stack.get("default") else "",
        )
    console.print(table)


def _runtimes(runtimes: dict[str, str]) -> str:
    return ", ".join(f"{label} {runtimes[key]}" for key, label in RUNTIMES if key in runtimes)


def _built(stack: dict[str, Any]) -> str:
    if not stack.get("built"):
        return "no (built on first use)"
    size = stack.get("size_bytes")
    when = str(stack.get("built_at") or "")
    return " ".join(part for part in (when, f"{size >> 20} MiB" if size else "") if part) or "yes"


@stack_app.command("update")
def update(name: Annotated[str, typer.Argument(help="Stack name, e.g. trixie.")]) -> None:
    """Build the stack anew from Debian's archive (security updates and all).

    Instances keep running on the build they started on and move to the new one when they
    restart (`yun restart APP`).

    Examples:
      yun stack update trixie
    """
    with client() as api:
        for line in api.build_stack(name):
            if line.startswith("OK"):
                console.print(f"Stack {name} built ({line[3:].strip()} s)")
                return
            if line.startswith("FAILED"):
                raise CliError(line[7:].strip())
            console.print(line, markup=False, highlight=False)
    raise CliError(f"the build of stack {name} ended without saying how")
