"""The `yun` command: verbs named like the cf CLI, one clear error line on failure."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from yun import __version__
from yun.cli import (
    api_keys,
    apps,
    autoscaling,
    certificates,
    clusters,
    deploying,
    domains,
    gitremote,
    logs,
    networking,
    orgs,
    pipelines,
    platform_backup,
    pushing,
    quotas,
    roles,
    route_verbs,
    routes,
    schedules,
    security_groups,
    services,
    stacks,
    tasks,
    templates,
    top,
    usage,
    users,
    webhooks,
)
from yun.cli import config as cli_config
from yun.cli.droplets import droplet_app
from yun.cli.help import YunTyper
from yun.cli.kubernetes import k8s_app
from yun.cli.live_config import config_app
from yun.cli.options import JsonOpt
from yun.cli.output import CliError, console, errors, print_json
from yun.cli.server import server_app
from yun.cli.session import client as session_client
from yun.cli.session import remember
from yun.cli.stacks import stack_app
from yun.client import ApiClient, ApiError
from yun.manifest import ManifestError

app = YunTyper(
    name="yun",
    help="Yun, a platform for apps: push them with a Cloud Foundry or Stackato manifest, run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def login(
    api: Annotated[
        str | None,
        typer.Option(
            "-a",
            "--api",
            metavar="URL",
            help="API URL, e.g. http://127.0.0.1:7070 (default: the saved one).",
        ),
    ] = None,
    username: Annotated[
        str, typer.Option("-u", "--username", metavar="USER", help="User to log in as.")
    ] = "admin",
    password: Annotated[
        str | None,
        typer.Option(
            "-p", "--password", metavar="PASSWORD", help="Password (asked for on a terminal)."
        ),
    ] = None,
    skip_ssl_validation: Annotated[
        bool,
        typer.Option(
            "--skip-ssl-validation",
            help="Accept any certificate of an HTTPS API (a self-signed one, say).",
        ),
    ] = False,
) -> None:
    """Log in to a Yun API and remember the target.

    Examples:
      yun login -a http://127.0.0.1:7070 -u admin -p "$(cat initial-admin-password)"
    """
    config = cli_config.load()
    if api:
        config.api = api.rstrip("/")
        config.skip_ssl_validation = skip_ssl_validation
    elif skip_ssl_validation:
        config.skip_ssl_validation = True
    if password is None:
        if not sys.stdin.isatty():
            raise CliError("-p/--password is required when not on a terminal")
        password = typer.prompt("Password", hide_input=True)
    with ApiClient(config.api, verify=not config.skip_ssl_validation) as client:
        client.info()
        tokens = client.login(username, password)
        remember(config, tokens)
        client.use(tokens)
        _retarget(config, client)
    config.user = username
    cli_config.save(config)
    where = f"org {config.org or '(none)'}, space {config.space or '(none)'}"
    console.print(f"Logged in to {config.api} as {username}. Target: {where}.")
    if not config.space:
        console.print("Pick a space: yun target -o ORG -s SPACE (see `yun spaces`)")


def _retarget(config: cli_config.CliConfig, api: ApiClient) -> None:
    """Keep the saved org and space if the user may use them; else, as `cf login` does, target
    their only org, and its only space."""
    spaces = api.spaces()
    for space in spaces:
        if (space["org"], space["name"]) == (config.org, config.space):
            config.space_guid = space["guid"]
            return
    orgs = api.orgs()
    config.org = orgs[0]["name"] if len(orgs) == 1 else ""
    mine = [s for s in spaces if s["org"] == config.org]
    picked = mine[0] if config.org and len(mine) == 1 else {"name": "", "guid": ""}
    config.space, config.space_guid = picked["name"], picked["guid"]


@app.command()
def logout() -> None:
    """End this session: its tokens stop working on the server and are forgotten here."""
    config = cli_config.load()
    if not config.token:
        console.print("Not logged in.")
        return
    try:
        with session_client() as api:
            api.logout()
    except (ApiError, CliError) as exc:  # an ended session is ended; forget it all the same
        console.print(f"(the server said: {exc})", markup=False, highlight=False)
    config.token, config.refresh_token, config.expires_at = "", "", 0.0
    cli_config.save(config)
    console.print(f"Logged out of {config.api}.", markup=False, highlight=False)


@app.command()
def target(
    org: Annotated[str, typer.Option("-o", "--org", metavar="ORG", help="Target this org.")] = "",
    space: Annotated[
        str, typer.Option("-s", "--space", metavar="SPACE", help="Target this space.")
    ] = "",
    json_: JsonOpt = False,
) -> None:
    """Show the API, user, org and space the CLI acts in, or pick the org and space.

    Examples:
      yun target
      yun target -o acme -s prod
      yun target -s staging           # another space of the targeted org
    """
    config = cli_config.load()
    if org or space:
        with session_client() as api:
            owner = org or config.org
            if not owner:
                raise CliError("no org targeted; give -o ORG (see `yun orgs`)")
            if space:
                picked = api.space(owner, space)
            else:  # an org alone: its only space, as the cf CLI does, else none yet
                found = api.spaces(owner)
                picked = found[0] if len(found) == 1 else {"name": "", "guid": ""}
        config.org, config.space, config.space_guid = owner, picked["name"], picked["guid"]
        cli_config.save(config)
    if json_:
        print_json(
            {"api": config.api, "user": config.user, "org": config.org, "space": config.space}
        )
        return
    console.print(f"API:   {config.api}", markup=False, highlight=False)
    console.print(f"user:  {config.user or '(not logged in)'}", markup=False, highlight=False)
    console.print(f"org:   {config.org}", markup=False, highlight=False)
    shown = config.space or "(none: `yun target -s SPACE`)"
    console.print(f"space: {shown}", markup=False, highlight=False)


@app.command()
def version() -> None:
    """Print the CLI version."""
    console.print(f"yun {__version__}")


app.command()(pushing.push)
app.command()(pushing.restage)
app.command("apps")(apps.apps)
app.command("app")(apps.app)
app.command()(apps.start)
app.command()(apps.stop)
app.command()(apps.restart)
app.command()(apps.scale)
app.command()(apps.delete)
app.command()(apps.env)
app.command("set-env")(apps.set_env)
app.command("unset-env")(apps.unset_env)
app.command()(deploying.deployments)
app.command("continue-deployment")(deploying.continue_deployment)
app.command("cancel-deployment")(deploying.cancel_deployment)
app.command()(deploying.revisions)
app.command()(deploying.rollback)
app.command()(autoscaling.autoscale)
app.command("run-task")(tasks.run_task)
app.command()(tasks.tasks)
app.command("terminate-task")(tasks.terminate_task)
app.command("git-url")(gitremote.git_url)
app.command("create-build-trigger")(gitremote.create_build_trigger)
app.command("build-triggers")(gitremote.build_triggers)
app.command("delete-build-trigger")(gitremote.delete_build_trigger)
app.command()(templates.templates)
app.command("create-pipeline")(pipelines.create_pipeline)
app.command()(pipelines.pipelines)
app.command()(pipelines.pipeline)
app.command("delete-pipeline")(pipelines.delete_pipeline)
app.command()(pipelines.promote)
app.command("create-app-from-template")(templates.create_app_from_template)
app.command()(schedules.schedule)
app.command("create-webhook")(webhooks.create_webhook)
app.command()(webhooks.webhooks)
app.command("delete-webhook")(webhooks.delete_webhook)
app.command("webhook-deliveries")(webhooks.webhook_deliveries)
app.command()(schedules.schedules)
app.command()(schedules.unschedule)
app.command()(routes.routes)
app.command("update-route")(routes.update_route)
app.command("create-route")(routes.create_route)
app.command("delete-route")(routes.delete_route)
app.command("check-route")(route_verbs.check_route)
app.command("map-route")(route_verbs.map_route)
app.command("unmap-route")(route_verbs.unmap_route)
app.command("bind-route-service")(route_verbs.bind_route_service)
app.command("unbind-route-service")(route_verbs.unbind_route_service)
app.command()(domains.domains)
app.command("create-api-plan")(api_keys.create_api_plan)
app.command("api-plans")(api_keys.api_plans)
app.command("delete-api-plan")(api_keys.delete_api_plan)
app.command("create-api-key")(api_keys.create_api_key)
app.command("api-keys")(api_keys.api_keys)
app.command("delete-api-key")(api_keys.delete_api_key)
app.command("add-network-policy")(networking.add_network_policy)
app.command("network-policies")(networking.network_policies)
app.command("remove-network-policy")(networking.remove_network_policy)
app.command("security-groups")(security_groups.security_groups)
app.command("security-group")(security_groups.security_group)
app.command("create-security-group")(security_groups.create_security_group)
app.command("update-security-group")(security_groups.update_security_group)
app.command("delete-security-group")(security_groups.delete_security_group)
app.command("bind-security-group")(security_groups.bind_security_group)
app.command("unbind-security-group")(security_groups.unbind_security_group)
app.command("running-security-groups")(security_groups.running_security_groups)
app.command("bind-running-security-group")(security_groups.bind_running_security_group)
app.command("unbind-running-security-group")(security_groups.unbind_running_security_group)
app.command()(orgs.orgs)
app.command("create-org")(orgs.create_org)
app.command("rename-org")(orgs.rename_org)
app.command("delete-org")(orgs.delete_org)
app.command()(orgs.spaces)
app.command("create-space")(orgs.create_space)
app.command("rename-space")(orgs.rename_space)
app.command("delete-space")(orgs.delete_space)
app.command("set-space-runtime")(orgs.set_space_runtime)
app.command()(users.users)
app.command("create-user")(users.create_user)
app.command("delete-user")(users.delete_user)
app.command()(users.passwd)
app.command("revoke-tokens")(users.revoke_tokens)
app.command("rotate-key")(users.rotate_key)
app.command()(quotas.org)
app.command()(quotas.space)
app.command()(quotas.quotas)
app.command("create-cluster")(clusters.create_cluster)
app.command()(clusters.clusters)
app.command("delete-cluster")(clusters.delete_cluster)
app.command("set-space-cluster")(clusters.set_space_cluster)
app.command("create-quota")(quotas.create_quota)
app.command("update-quota")(quotas.update_quota)
app.command("delete-quota")(quotas.delete_quota)
app.command("set-org-quota")(quotas.set_org_quota)
app.command("unset-org-quota")(quotas.unset_org_quota)
app.command("set-space-quota")(quotas.set_space_quota)
app.command("unset-space-quota")(quotas.unset_space_quota)
app.command("org-users")(roles.org_users)
app.command("space-users")(roles.space_users)
app.command("set-org-role")(roles.set_org_role)
app.command("unset-org-role")(roles.unset_org_role)
app.command("set-space-role")(roles.set_space_role)
app.command("unset-space-role")(roles.unset_space_role)
app.command()(certificates.ca)
app.command()(certificates.certificates)
app.command("set-certificate")(certificates.set_certificate)
app.command("delete-certificate")(certificates.delete_certificate)
app.command("create-shared-domain")(domains.create_shared_domain)
app.command("create-private-domain")(domains.create_private_domain)
app.command("delete-shared-domain")(domains.delete_shared_domain)
app.command("delete-private-domain")(domains.delete_private_domain)
app.command()(logs.logs)
app.command()(logs.events)
app.command()(top.top)
app.command()(usage.usage)
app.command()(platform_backup.backup)
app.command()(platform_backup.restore)
services.register(app)
app.command()(stacks.stacks)
app.add_typer(config_app, name="config")
app.add_typer(stack_app, name="stack")
app.add_typer(droplet_app, name="droplet")
app.add_typer(k8s_app, name="k8s")
app.add_typer(server_app, name="server")


def _error(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def _is_usage_error(exc: Exception) -> bool:
    """A click-style error about the command line (it names the option or argument)."""
    return all(hasattr(exc, name) for name in ("show", "exit_code", "format_message"))


def _usage_error(exc: Any) -> NoReturn:
    """One line naming the option or argument, and where to read about it; exit status 2."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # `yun` alone: the help, as click shows it
        exc.show()
        sys.exit(int(exc.exit_code))
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    _error(f"{str(exc.format_message()).rstrip('.')}{hint}", int(exc.exit_code))


def run() -> None:
    import click

    try:
        code = app(standalone_mode=False)
    except (CliError, ApiError, ManifestError) as exc:
        _error(str(exc))
    except click.ClickException as exc:
        _usage_error(exc)
    except click.exceptions.Abort:
        _error("aborted")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _is_usage_error(exc):  # Typer's own copy of click raises its own classes
            _usage_error(exc)
        if os.environ.get("YUN_DEBUG"):
            raise
        _error(f"unexpected {type(exc).__name__}: {exc} (set YUN_DEBUG=1 for a traceback)")
    sys.exit(code if isinstance(code, int) else 0)
