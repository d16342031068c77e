"""Deploying from git: `yun git-url` (the remote whose `git push` deploys, Heroku's and Dokku's
way) and build triggers (a URL a forge's push webhook calls): `yun create-build-trigger`,
`build-triggers`, `delete-build-trigger`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from yun.cli import config as cli_config
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, Listing, console, errors, print_json
from yun.cli.session import client


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


AppArg = Annotated[str, typer.Argument(metavar="APP")]


def create_build_trigger(
    name: AppArg,
    repo: Annotated[str, typer.Option("--repo", metavar="URL", help="The git repository.")],
    ref: Annotated[str, typer.Option("--ref", metavar="BRANCH", help="What to deploy.")] = "main",
    secret: Annotated[
        str | None,
        typer.Option("--secret", metavar="SECRET", help="The forge webhook's secret."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Make a URL that builds and deploys BRANCH of a git repository when called: give it to
    a forge as its push webhook (GitHub, GitLab, Gitea). The URL is shown once.

    With --secret, calls must be signed with it (X-Hub-Signature-256) or carry it
    (X-Gitlab-Token). A push to another branch is skipped.

    Examples:
      yun create-build-trigger myapp --repo https://git.example.com/me/myapp.git --secret s3cret
    """
    with client() as api:
        made = api.create_build_trigger(
            api.find_app(name)["guid"], repo_url=repo, ref=ref, secret=secret
        )
    if json_:
        print_json(made)
        return
    console.print(
        f"Build trigger {made['guid']} deploys {made['ref']} of {made['repo_url']} to {name}.",
        markup=False,
        highlight=False,
    )
    console.print(f"url: {made['url']}", markup=False, highlight=False, soft_wrap=True)


def build_triggers(name: AppArg, json_: JsonOpt = False) -> None:
    """List an app's build triggers and how each one's last run went."""
    with client() as api:
        found = api.build_triggers(api.find_app(name)["guid"])
    if json_:
        print_json(found)
        return
    if not found:
        console.print(f"App {name} has no build triggers.")
        return
    table = Listing("id", "repository", "ref", "signed", "last outcome")
    for item in found:
        table.add_row(
            item["guid"],
            item["repo_url"],
            item["ref"],
            "yes" if item["signed"] else "no",
            item["last_outcome"],
        )
    console.print(table)


def delete_build_trigger(
    name: AppArg,
    trigger: Annotated[str, typer.Argument(metavar="ID", help="`yun build-triggers` lists them.")],
) -> None:
    """Delete a build trigger: its URL stops working."""
    with client() as api:
        api.delete_build_trigger(api.find_app(name)["guid"], trigger)
    console.print(f"Deleted build trigger {trigger} of {name}.", markup=False, highlight=False)
