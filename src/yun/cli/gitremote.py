"""`yun git-url`: the git remote that deploys an app on `git push` (Heroku's and Dokku's way)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from yun.cli import config as cli_config
from yun.cli.output import CliError, console, errors


def git_url(
    name: Annotated[str, typer.Argument(metavar="APP", help="The app (made by the first push).")],
) -> None:
    """Print the git remote of an app in the targeted space: `git push` to it deploys.

    git asks for your Yun user name and your password or an access token (a credential
    helper can keep them). A push to main or master stages and deploys the commit with the
    repository's manifest.yml, and is refused when staging fails; a push to an app that does
    not exist yet creates it.

    Examples:
      git remote add yun $(yun git-url myapp)
      git push yun main
    """
    config = cli_config.load()
    if not config.api:
        raise CliError("no API targeted; run `yun login -a URL` first")
    if not config.org or not config.space:
        raise CliError("no space targeted; run `yun target -o ORG -s SPACE` first")
    parts = (quote(part, safe="") for part in (config.org, config.space, name))
    url = config.api.rstrip("/") + "/git/{}/{}/{}.git".format(*parts)
    console.print(url, markup=False, highlight=False, soft_wrap=True)
    if console.is_terminal:
        errors.print(f"git remote add yun {url}", markup=False, highlight=False, soft_wrap=True)
