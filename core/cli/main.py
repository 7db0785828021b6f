"""``smsgate`` commands: serve, check-config, clevertap-config, plugins, db, new-plugin,
messages, stats, purge.

Exit status: 0 fine, 1 the gateway cannot work as configured (a broken plugin, an old
schema, an unreachable database), 2 the configuration file or the command line is wrong.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from smsgate.cli.fake_clevertap import fake_clevertap
from smsgate.cli.new_plugin import new_plugin
from smsgate.cli.operators import messages, purge_command, stats_command
from smsgate.cli.sandbox import sandbox
from smsgate.config import Config, find_config_path, load_config
from smsgate.errors import ConfigError, SmsgateError
from smsgate.plugins import load_plugins

CANNOT_WORK = 1
CONFIG_ERROR = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The TOML file; default: $SMSGATE_CONFIG, else ./smsgate.toml.",
)


def _load(config_path: Path | None) -> Config:
    try:
        return load_config(find_config_path(config_path), load_plugins())
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(CONFIG_ERROR) from None


def _fail(message: str, status: int = CANNOT_WORK) -> SystemExit:
    click.echo(f"error: {message}", err=True)
    return SystemExit(status)


@click.group()
@click.version_option(package_name="smsgate")
@click.pass_context
def main(ctx: click.Context) -> None:
    """smsgate: CleverTap's SMS traffic to the vendors of your choice."""
    if ctx.invoked_subcommand != "serve":
        # These commands report plugin and database trouble in their own output; the log
        # records (with tracebacks) are for the server's log.
        smsgate_logger = logging.getLogger("smsgate")
        if not any(isinstance(h, logging.NullHandler) for h in smsgate_logger.handlers):
            smsgate_logger.addHandler(logging.NullHandler())


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free one).",
)
@click.option(
    "--strict", is_flag=True, help="Refuse to start when any provider's plugin is broken."
)
def serve(config_path: Path | None, host: str, port: int, strict: bool) -> None:
    """Run the gateway.

    On SQLite the schema is migrated at start; on PostgreSQL it must already be at this
    version's revision (run `smsgate db upgrade`). A provider whose plugin is broken answers
    503 while the others keep working, unless --strict is given.
    """
    import uvicorn

    from smsgate.cli.startup import StartupGuard
    from smsgate.config import is_local
    from smsgate.host.app import create_app
    from smsgate.host.logs import configure_logging

    config = _load(config_path)
    configure_logging(config.settings.gateway.log_format)
    if strict and config.broken:
        for nickname, reason in config.broken.items():
            click.echo(f"provider {nickname!r} is unavailable: {reason}", err=True)
        raise _fail("refusing to start with broken providers (--strict)")
    published = [] if is_local(host) else config.settings.published_tokens()
    if published:
        raise _fail(
            f"refusing to listen on {host} with the example file's published "
            f"{', '.join(published)}: generate them with `openssl rand -hex 24`"
        )
    guard = StartupGuard(create_app(config), config)
    # Our logging set-up, not uvicorn's; and no uvicorn access log: the app writes that line,
    # with the request id.
    server = uvicorn.Server(
        uvicorn.Config(
            guard,
            host=host,
            port=port,
            log_level="info",
            lifespan="on",
            log_config=None,
            access_log=False,
            # With that many connections open, a new request gets an immediate 503 rather
            # than one more socket and task. (uvicorn counts the asking connection too.)
            limit_concurrency=config.settings.gateway.max_connections + 1,
        )
    )
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it already handled: the shutdown was clean, and
        # click's "Aborted!" would be the one line of the log that is not JSON.
        return
    except SystemExit:
        # uvicorn exits with its own status when start-up fails; say why, with ours.
        if guard.failure is not None:
            raise _fail(guard.failure) from None
        raise _fail("the server did not start; see the log above") from None


@main.command("check-config")
@config_option
def check_config(config_path: Path | None) -> None:
    """Check the configuration file and every provider's plugin and options."""
    from smsgate.storage.database import display_url

    config = _load(config_path)
    gateway = config.settings.gateway
    click.echo(f"database:   {display_url(config.database_url)}")
    click.echo(f"public URL: {gateway.public_url}")
    for nickname, provider in config.providers.items():
        state = f"BROKEN: {provider.broken}" if provider.broken else "ok"
        click.echo(f"provider {nickname} (plugin {provider.settings.plugin}): {state}")
    if config.broken:
        click.echo(
            f"{config.path}: {len(config.broken)} provider(s) cannot work; "
            "see `smsgate plugins` for the plugin errors",
            err=True,
        )
        raise SystemExit(CANNOT_WORK)
    click.echo(f"{config.path}: ok, {len(config.providers)} provider(s)")


@main.command("clevertap-config")
@config_option
@click.argument("nickname")
@click.option("--show-secrets", is_flag=True, help="Print the tokens instead of their keys.")
def clevertap_config(config_path: Path | None, nickname: str, show_secrets: bool) -> None:
    """Print what to type into CleverTap's Other (Generic) SMS provider form."""
    from smsgate.cli.clevertap_form import clevertap_form

    config = _load(config_path)
    if nickname not in config.providers:
        known = ", ".join(sorted(config.providers)) or "none"
        raise _fail(f"no provider {nickname!r} in {config.path}; configured: {known}", 2)
    click.echo(clevertap_form(config, config.providers[nickname], show_secrets=show_secrets))


@main.command("plugins")
def plugins_command() -> None:
    """List installed plugins: version, hooks, options model and health.

    A plugin that fails to load, or whose options model cannot be had, is listed as BROKEN
    with the reason; the others are listed as usual.
    """
    from smsgate.cli.plugin_health import describe

    for line in describe(load_plugins()):
        click.echo(line)


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Create or migrate the database to this version's schema."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    from smsgate.cli.startup import describe_startup_error
    from smsgate.storage.database import (
        check_schema,
        create_engine,
        current_revision,
        display_url,
        upgrade,
    )

    config = _load(config_path)
    url = config.database_url
    engine = create_engine(url)
    try:
        try:
            upgrade(url)
        except CommandError as exc:
            # Most likely a revision from a newer smsgate: the schema check says so plainly.
            check_schema(engine)
            raise _fail(f"migration failed: {exc}") from None
        click.echo(f"{display_url(url)}: schema at revision {current_revision(engine)} (newest)")
    except (SmsgateError, DBAPIError) as exc:
        raise _fail(describe_startup_error(exc, config)) from None
    finally:
        engine.dispose()


main.add_command(messages)
main.add_command(stats_command)
main.add_command(purge_command)
main.add_command(sandbox)
main.add_command(fake_clevertap)
main.add_command(new_plugin)
