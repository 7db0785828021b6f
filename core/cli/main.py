"""``smsgate`` commands: serve, check-config, clevertap-config, plugins, db."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from smsgate.config import Config, find_config_path, load_config
from smsgate.errors import ConfigError, SmsgateError
from smsgate.plugins import PluginSet, load_plugins

CONFIG_ERROR = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The TOML file; default: $SMSGATE_CONFIG, else ./smsgate.toml.",
)


def _load(config_path: Path | None) -> tuple[Config, PluginSet]:
    plugins = load_plugins()
    try:
        return load_config(find_config_path(config_path), plugins), plugins
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(CONFIG_ERROR)


@click.group()
@click.version_option(package_name="smsgate")
def main() -> None:
    """smsgate: CleverTap's SMS traffic to the vendors of your choice."""


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--strict", is_flag=True, help="Refuse to start when any provider's plugin is broken."
)
def serve(config_path: Path | None, host: str, port: int, strict: bool) -> None:
    """Run the gateway."""
    import uvicorn
    from smsgate.host.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config, _ = _load(config_path)
    if strict and config.broken:
        for nickname, reason in config.broken.items():
            click.echo(f"provider {nickname!r} is unavailable: {reason}", err=True)
        sys.exit(1)
    try:
        app = create_app(config)
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
    except SmsgateError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


@main.command("check-config")
@config_option
def check_config(config_path: Path | None) -> None:
    """Check the configuration file and every provider's plugin and options."""
    config, _ = _load(config_path)
    for nickname, provider in config.providers.items():
        state = f"BROKEN: {provider.broken}" if provider.broken else "ok"
        click.echo(f"{nickname}: plugin {provider.settings.plugin} — {state}")
    if config.broken:
        click.echo(f"{config.path}: {len(config.broken)} provider(s) cannot work", err=True)
        sys.exit(1)
    click.echo(f"{config.path}: ok, {len(config.providers)} provider(s)")


@main.command("clevertap-config")
@config_option
@click.argument("nickname")
@click.option("--show-secrets", is_flag=True, help="Print the tokens instead of their keys.")
def clevertap_config(config_path: Path | None, nickname: str, show_secrets: bool) -> None:
    """Print what to type into CleverTap's Other (Generic) SMS provider form."""
    from smsgate.cli.clevertap_form import clevertap_form

    config, _ = _load(config_path)
    if nickname not in config.providers:
        known = ", ".join(sorted(config.providers)) or "none"
        click.echo(f"no provider {nickname!r} in {config.path}; configured: {known}", err=True)
        sys.exit(CONFIG_ERROR)
    click.echo(clevertap_form(config, config.providers[nickname], show_secrets=show_secrets))


@main.command("plugins")
def plugins_command() -> None:
    """List installed plugins, their versions and hooks, and any that fail to load."""
    plugins = load_plugins()
    for info in sorted(plugins.infos.values(), key=lambda info: info.name):
        version = info.version or "unknown version"
        click.echo(f"{info.name} {version} ({info.module})")
        if info.error:
            click.echo(f"  BROKEN: {info.error}")
        else:
            click.echo(f"  hooks: {', '.join(info.hooks) or 'none'}")
    if not plugins.infos:
        click.echo("no plugins installed")


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Create or migrate the database to this version's schema."""
    from smsgate.storage.database import create_engine, current_revision, upgrade

    config, _ = _load(config_path)
    url = config.database_url
    upgrade(url)
    engine = create_engine(url)
    try:
        click.echo(f"database is at revision {current_revision(engine)}")
    finally:
        engine.dispose()
