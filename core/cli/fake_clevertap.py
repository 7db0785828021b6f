"""``smsgate fake-clevertap``: a local stand-in for CleverTap's SMS callback URL."""

from __future__ import annotations

import logging

import click


@click.command("fake-clevertap")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9091, show_default=True, type=int, help="Port to listen on.")
@click.option("--quiet", is_flag=True, help="Do not print the records received.")
def fake_clevertap(host: str, port: int, quiet: bool) -> None:
    """Record delivery callbacks as CleverTap would receive them (for demos and tests).

    Point a provider's clevertap_callback_url at http://HOST:PORT/sms/generic?account=DEMO.
    GET /_fake/received lists what arrived; POST /_fake/outage simulates a CleverTap outage.
    """
    import uvicorn

    from smsgate.testing.fake_clevertap import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    uvicorn.run(create_app(echo=not quiet), host=host, port=port, log_level="warning")
