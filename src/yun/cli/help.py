"""How `yun … --help` reads: like the cf CLI's help, in plain text a terminal and a pipe show alike.

Typer's own help puts each option in a box and shows Python types where a person wants the name
of the value (`--no-start <bool>`, `-i <int range> [x>=0]`, `--var <list[str]>`). Every command
and group of `yun` is built from the classes here (through `YunTyper`), so each help page has
cf's sections and columns:

    NAME:
       scale - Change instances, memory or disk of a process.

    USAGE:
       yun scale NAME [OPTIONS]

    OPTIONS:
       -i, --instances N   Number of instances (0 or more).
       -f, --force         Do not ask.

A flag shows no placeholder; a valued option shows its metavar, or its name in capitals. A
paragraph of a command's docstring that opens with a title line (`Examples:`) becomes a section.
"""

from __future__ import annotations

import inspect
import shutil
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

F = TypeVar("F", bound=Callable[..., Any])
INDENT = "   "
MAX_WIDTH = 100
TERM_MAX = 32  # an option's column is at most this wide; a longer one puts its text below


def metavar(param: Any) -> str:
    """What a user types as the parameter's value: its metavar, else its name in capitals;
    nothing for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.metavar:
        return str(param.metavar)
    longs = [opt for opt in param.opts if opt.startswith("--")]
    name = longs[0] if longs else param.name or "VALUE"
    return str(name).lstrip("-").replace("-", "_").upper()


def _paragraphs(text: str | None) -> list[str]:
    return [p for p in inspect.cleandoc(text or "").split("\n\n") if p.strip()]


def summary(command: Any) -> str:
    """A command's first paragraph, on one line."""
    if command.short_help:
        return str(command.short_help)
    paragraphs = _paragraphs(command.help)
    return " ".join(paragraphs[0].split()) if paragraphs else ""


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH))


def _definitions(rows: Sequence[tuple[str, str]], width: int) -> list[str]:
    """Two columns, cf's way: the term, then its description wrapped beside it."""
    if not rows:
        return []
    column = min(max(len(term) for term, _ in rows), TERM_MAX) + 2
    lines = []
    for term, text in rows:
        wrapped = textwrap.wrap(text, max(width - len(INDENT) - column, 20)) or [""]
        if len(term) > column - 2:
            lines.append(INDENT + term)
        else:
            lines.append(INDENT + term.ljust(column) + wrapped.pop(0))
        lines.extend(INDENT + " " * column + rest for rest in wrapped)
    return [line.rstrip() for line in lines]


def _option_term(param: Any) -> str:
    names = sorted(param.opts, key=lambda opt: (opt.startswith("--"), opt))
    term = ", ".join(names)
    if param.secondary_opts:
        term += " / " + ", ".join(param.secondary_opts)
    value = metavar(param)
    return f"{term} {value}" if value else term


def _default(param: Any) -> str:
    value = param.default
    if (
        param.show_default is False
        or getattr(param, "is_flag", False)
        or value is None
        or value in ("", (), [])
        or callable(value)
    ):
        return ""
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f" (default: {shown})"


def _option_text(param: Any) -> str:
    text = " ".join((param.help or "").split())
    if param.required:
        text += " (required)"
    return text + _default(param)


def _usage(command: Any, ctx: Any) -> str:
    pieces = [ctx.command_path]
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    for param in params:
        if isinstance(param, TyperArgument):
            name = metavar(param) + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
        elif param.required:
            pieces.append(f"{param.opts[0]} {metavar(param)}".strip())
    if isinstance(command, TyperGroup):
        what = "COMMAND [ARGS]..."
        pieces.append(f"[{what}]" if command.invoke_without_command else what)
    pieces.append("[OPTIONS]")
    return " ".join(pieces)


def render(command: Any, ctx: Any) -> str:
    """The help page of a command or a group."""
    width = _width()
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    paragraphs = _paragraphs(command.help)
    name = ctx.command_path.rsplit(" ", 1)[-1]
    out = ["NAME:"]
    first = " ".join(paragraphs[0].split()) if paragraphs else ""
    out += textwrap.wrap(
        f"{name} - {first}" if first else name,
        width,
        initial_indent=INDENT,
        subsequent_indent=INDENT + "   ",
    )
    sections: list[tuple[str, list[str]]] = []
    for paragraph in paragraphs[1:]:
        title, _, body = paragraph.partition("\n")
        if title.endswith(":") and body.strip():
            block = textwrap.dedent(body).splitlines()
            sections.append((title.upper(), [INDENT + line for line in block]))
        else:
            text = " ".join(paragraph.split())
            out += [
                "",
                *textwrap.wrap(text, width, initial_indent=INDENT, subsequent_indent=INDENT),
            ]
    out += ["", "USAGE:", INDENT + _usage(command, ctx)]
    for title, block in sections:
        out += ["", title, *block]
    arguments = [
        (metavar(p), " ".join((p.help or "").split()))
        for p in params
        if isinstance(p, TyperArgument) and p.help
    ]
    if arguments:
        out += ["", "ARGUMENTS:", *_definitions(arguments, width)]
    if isinstance(command, TyperGroup):
        listed = [
            (sub_name, summary(sub))
            for sub_name in command.list_commands(ctx)
            if (sub := command.get_command(ctx, sub_name)) is not None and not sub.hidden
        ]
        out += ["", "COMMANDS:", *_definitions(listed, width)]
    options = [
        (_option_term(p), _option_text(p)) for p in params if not isinstance(p, TyperArgument)
    ]
    if options:
        out += ["", "OPTIONS:", *_definitions(options, width)]
    if isinstance(command, TyperGroup):
        out += ["", f"Run '{ctx.command_path} COMMAND --help' for a command's options."]
    return "\n".join(out) + "\n"


def _name_arguments(params: Sequence[Any]) -> None:
    """Arguments go by their name in capitals (`NAME`), in help and in error messages."""
    for param in params:
        if isinstance(param, TyperArgument) and not param.metavar and param.name:
            param.metavar = param.name.upper()


class YunCommand(TyperCommand):
    """A command whose `--help` is `render`'s page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_arguments(self.params)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render(self, ctx))


class YunGroup(TyperGroup):
    """A group (`yun`, `yun server`, `yun droplet`) whose `--help` is `render`'s page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_arguments(self.params)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render(self, ctx))


class YunTyper(typer.Typer):
    """A Typer whose groups and commands are `YunGroup` and `YunCommand`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", YunGroup)
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", YunCommand)
        return super().command(*args, **kwargs)
