"""User commands: `yun users`, `yun create-user`, `yun delete-user`, `yun passwd`,
`yun revoke-tokens`. Passwords come from a file (`--password-file`, its first line) or are
asked for twice on a terminal; never from an argument, which other users can read."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Annotated

import typer

from yun.cli.options import JsonOpt
from yun.cli.output import CliError, ForceOpt, Listing, confirm_delete, console, print_json
from yun.cli.session import client

UserArg = Annotated[str, typer.Argument(metavar="USER", help="The user's name.")]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file", metavar="FILE", help="Read the password from FILE's first line."
    ),
]


def read_password(file: Path | None, option: str, prompt: str, *, confirm: bool) -> str:
    """A password from `file`'s first line, or asked for on the terminal."""
    if file is not None:
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"{option} {file}: cannot read it ({exc})") from exc
        password = text.splitlines()[0] if text.splitlines() else ""
        if not password:
            raise CliError(f"{option} {file}: the first line is empty")
        return password
    if not sys.stdin.isatty():
        raise CliError(f"no terminal to ask for the password on; give {option} FILE")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def users(json_: JsonOpt = False) -> None:
    """List the platform's users (admins only)."""
    with client() as api:
        found = api.users()
    if json_:
        print_json(found)
        return
    table = Listing("user", "admin", "created")
    for user in found:
        created = datetime.datetime.fromtimestamp(user["created_at"], datetime.UTC)
        table.add_row(user["name"], "yes" if user["admin"] else "no", f"{created:%Y-%m-%d}")
    console.print(table)


def create_user(
    name: UserArg,
    password_file: PasswordFileOpt = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
) -> None:
    """Create a user (admins only). The password is at least 8 characters.

    Examples:
      yun create-user alice                         # asks for the password twice
      yun create-user ci-bot --password-file /run/secrets/ci-bot
    """
    password = read_password(password_file, "--password-file", "Password", confirm=True)
    with client() as api:
        made = api.create_user(name, password, admin=admin)
    role = "admin " if made["admin"] else ""
    console.print(f"Created {role}user {made['name']}.", markup=False, highlight=False)


def delete_user(
    name: UserArg,
    force: ForceOpt = False,
) -> None:
    """Delete a user and end their sessions (admins only; not the last admin)."""
    if not confirm_delete(f"the user {name}", force=force):
        return
    with client() as api:
        api.delete_user(name)
    console.print(f"Deleted user {name}.", markup=False, highlight=False)


def passwd(
    password_file: PasswordFileOpt = None,
    current_password_file: Annotated[
        Path | None,
        typer.Option(
            "--current-password-file",
            metavar="FILE",
            help="Read the current password from FILE's first line.",
        ),
    ] = None,
) -> None:
    """Change your password; your other sessions end.

    Examples:
      yun passwd
    """
    current = read_password(
        current_password_file, "--current-password-file", "Current password", confirm=False
    )
    new = read_password(password_file, "--password-file", "New password", confirm=True)
    with client() as api:
        changed = api.change_password(current, new)
    ended = changed["sessions_ended"]
    console.print(
        f"Password changed for {changed['user']}; {ended} other session(s) ended.",
        markup=False,
        highlight=False,
    )


def revoke_tokens(name: UserArg) -> None:
    """End every session of a user: their tokens stop working (admins; anyone for themselves)."""
    with client() as api:
        revoked = api.revoke_tokens(name)
    console.print(
        f"Ended {revoked['sessions_ended']} session(s) of {name}.", markup=False, highlight=False
    )


def rotate_key() -> None:
    """Re-seal every stored secret (environment variables, credentials, passwords, private
    keys) under a new key; the old key is forgotten (admins)."""
    with client() as api:
        done = api.rotate_key()
    console.print(
        f"Re-sealed {done['resealed']} value(s) under a new key.", markup=False, highlight=False
    )
