"""The ceiling of the reports benchmark: a bare Starlette endpoint, served like the gateway.

``python -m bench.bare_app --port P`` serves ``GET|POST /callbacks/{nickname}/{token}``,
which reads the body and answers a JSON object the size of the gateway's, with the
server setup of ``smsgate serve``: one uvicorn worker, the same ``uvicorn.Config``
(``log_level="info"``, uvicorn's own access log off). What the gateway adds on top, its
middleware and its own access log line included, is the gateway's cost.

``--gateway-stack CONFIG`` serves the same bare endpoint inside the gateway's own
application instead (``create_app`` with its middleware: request ids, the access log line,
redaction, metrics; its exception handlers; the logging set-up of ``serve``), the delivery
report handler alone replaced: the most the gateway's stack lets any endpoint do. Its
answers say ``"bare": true``, so that the benchmark can tell the replacement took.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def receive(request: Request) -> JSONResponse:
    """Read the body and answer; nothing else."""
    await request.body()
    return JSONResponse({"received": 1, "matched": 1, "waiting": 0})


async def receive_in_stack(request: Request) -> JSONResponse:
    """:func:`receive`, saying so."""
    await request.body()
    return JSONResponse({"received": 1, "matched": 1, "waiting": 0, "bare": True})


def create_app() -> Starlette:
    """The bare application."""
    return Starlette(
        routes=[Route("/callbacks/{nickname}/{callback_token}", receive, methods=["GET", "POST"])]
    )


def gateway_stack(config_path: Path) -> Any:
    """The gateway's application, as ``smsgate serve`` builds it, with the bare handler."""
    from smsgate.cli.startup import StartupGuard
    from smsgate.config import load_config
    from smsgate.host import app, callbacks
    from smsgate.host.logs import configure_logging
    from smsgate.plugins import load_plugins

    callbacks.receive = receive_in_stack  # type: ignore[assignment]
    config = load_config(config_path, load_plugins())
    configure_logging(config.settings.gateway.log_format)
    return StartupGuard(app.create_app(config))


def main() -> None:
    """The command line: ``--host``, ``--port`` and ``--gateway-stack``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gateway-stack", type=Path, metavar="CONFIG")
    args = parser.parse_args()
    if args.gateway_stack is not None:
        application = gateway_stack(args.gateway_stack)
    else:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        application = create_app()
    # As `smsgate serve` configures uvicorn (smsgate.cli.main.serve).
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host=args.host,
            port=args.port,
            log_level="info",
            lifespan="on",
            log_config=None,
            access_log=False,
            limit_concurrency=1000,
        )
    )
    server.run()


if __name__ == "__main__":
    main()
