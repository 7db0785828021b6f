"""``smsgate sandbox NAME``: serve a plugin's stand-in for its vendor's API.

Any plugin that implements the ``sandbox_app`` hook can be served; the Pingbix plugin's
sandbox is what ``make run`` and the tests talk to instead of Pingbix.
"""

from __future__ import annotations

import click

from smsgate.errors import PluginError
from smsgate.plugins import load_plugins
from smsgate.types import SandboxSettings

__all__ = ["parse_outcomes", "sandbox"]

USAGE_ERROR = 2
CANNOT_WORK = 1


def parse_outcomes(text: str) -> dict[str, float]:
    """``delivered=0.8,failed=0.2`` as a mapping; raises :class:`click.BadParameter`."""
    outcomes: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or value < 0:
            raise click.BadParameter(
                f"{part.strip()!r} is not NAME=WEIGHT with a weight of 0 or more "
                "(e.g. delivered=0.8,failed=0.2)",
                param_hint="--outcomes",
            )
        outcomes[name.strip()] = value
    return outcomes


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        options[key.strip()] = value
    return options


@click.command()
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9090, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--dlr-url", default=None, help="Where to push delivery reports; none are sent without it."
)
@click.option(
    "--delivered-ratio",
    type=click.FloatRange(0, 1),
    default=None,
    help="Share of messages reported delivered; the rest fail.  [default: 1]",
)
@click.option(
    "--outcomes",
    default=None,
    metavar="NAME=WEIGHT,...",
    help="The outcome mix, e.g. delivered=0.8,failed=0.2; names depend on the plugin.",
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds between accepting a message and pushing its delivery report.",
)
@click.option("--seed", type=int, default=None, help="Makes ids and outcomes reproducible.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A setting of this plugin's sandbox (e.g. userid=acme); repeatable.",
)
def sandbox(
    name: str,
    host: str,
    port: int,
    dlr_url: str | None,
    delivered_ratio: float | None,
    outcomes: str | None,
    delay: float,
    seed: int | None,
    options: tuple[str, ...],
) -> None:
    """Serve plugin NAME's stand-in for its vendor's API (e.g. `smsgate sandbox pingbix`)."""
    import uvicorn

    if delivered_ratio is not None and outcomes is not None:
        raise click.UsageError("give --delivered-ratio or --outcomes, not both")
    if outcomes is not None:
        mix = parse_outcomes(outcomes)
    else:
        ratio = 1.0 if delivered_ratio is None else delivered_ratio
        mix = {"delivered": ratio, "failed": 1.0 - ratio}
    settings = SandboxSettings(
        dlr_url=dlr_url, outcomes=mix, delay=delay, seed=seed, options=_parse_options(options)
    )
    plugins = load_plugins()
    if name not in plugins:
        known = ", ".join(sorted(plugins.infos)) or "none"
        click.echo(f"error: no plugin {name!r} is installed; installed: {known}", err=True)
        raise SystemExit(USAGE_ERROR)
    try:
        app = plugins.get(name).sandbox_app(settings)
    except PluginError as exc:
        if type(exc.__cause__) is ValueError:  # not a bug's ValidationError or JSON error
            # The plugin refused what was typed (an outcome it does not know, say): the
            # operator's to fix, in the plugin's own words.
            click.echo(f"error: {name} sandbox: {exc.__cause__}", err=True)
            raise SystemExit(USAGE_ERROR) from None
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        click.echo(f"error: {exc}{cause}", err=True)
        raise SystemExit(CANNOT_WORK) from None
    target = f"delivery reports to {dlr_url}" if dlr_url else "no delivery reports"
    click.echo(f"{name} sandbox on http://{host}:{port} ({target})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
