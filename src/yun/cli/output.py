"""Console output shared by the commands: Rich for people, plain lines and `--json` for scripts,
one-line errors.

On a terminal, listings are Rich tables fitted to its width. When stdout is a pipe or a file,
nothing is wrapped or cut: a listing is a header line and one line per row, columns separated by
at least two spaces, every value in full (as `cf apps` prints), and other lines are never broken
at 80 columns, so `yun events NAME | grep "out of memory"` finds the whole event.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import IO, Annotated, Any

import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.segment import Segment
from rich.style import StyleType
from rich.table import Table
from rich.text import Text


def is_tty(file: IO[str]) -> bool:
    """Whether `file` is a terminal (a person reads it), not a pipe or a file."""
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # closed
        return False


def _console(*, stderr: bool) -> Console:
    out = Console(stderr=stderr, highlight=False)
    out.soft_wrap = not is_tty(out.file)  # a pipe: no wrapping, no cropping at 80 columns
    return out


console = _console(stderr=False)


def transfer_progress(*, transient: bool) -> Progress:
    """A bar of bytes sent or received, with the speed (`progress.advance(task, n)`); a
    transient one is not shown at all where output is not a terminal (a pipe, a log)."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=transient,
        disable=transient and not console.is_terminal,
    )


errors = _console(stderr=True)


class CliError(Exception):
    """A one-line message for the user; the command exits nonzero."""


ForceOpt = Annotated[bool, typer.Option("-f", "--force", help="Do not ask.")]


def confirm_delete(what: str, *, force: bool) -> bool:
    """Whether to delete `what` (`-f`, or a yes on the terminal); without a terminal to ask on
    and without `-f`, a CliError (a script must say it means it, as with the cf CLI)."""
    if force:
        return True
    if not sys.stdin.isatty():
        raise CliError(
            f"no terminal to confirm deleting {what} on; add -f to delete without asking"
        )
    if typer.confirm(f"Really delete {what}?", default=False):
        return True
    console.print("Delete cancelled.")
    return False


class Listing(Table):
    """The table of a listing command: a Rich table on a terminal, plain columns elsewhere.

    Values are shown as given (never read as Rich markup).
    """

    def __init__(self, *columns: str) -> None:
        super().__init__(box=None, header_style="bold")
        for column in columns:
            self.add_column(column)

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [Text(cell) if isinstance(cell, str) else cell for cell in renderables]
        super().add_row(*cells, style=style, end_section=end_section)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if is_tty(console.file):
            yield from super().__rich_console__(console, options)
            return
        for line in self.plain_lines():
            yield Segment(line + "\n")

    def plain_lines(self) -> list[str]:
        """The header and each row on one line, columns padded to the widest value."""
        header = [_plain(column.header) for column in self.columns]
        rows = [
            header,
            *zip(*([_plain(c) for c in col.cells] for col in self.columns), strict=True),
        ]
        widths = [max(cell_len(row[i]) for row in rows) for i in range(len(header))]
        lines = []
        for row in rows:
            padded = [value + " " * (widths[i] - cell_len(value)) for i, value in enumerate(row)]
            lines.append("  ".join(padded).rstrip())
        return lines


def _plain(cell: RenderableType | None) -> str:
    text = cell.plain if isinstance(cell, Text) else "" if cell is None else str(cell)
    return " ".join(text.splitlines())  # one row, one line


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_json_lines(items: Iterable[Any]) -> None:
    """One JSON object a line (JSON Lines), flushed as each comes: for a live stream."""
    for item in items:
        sys.stdout.write(json.dumps(item, default=str) + "\n")
        sys.stdout.flush()


def age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"
