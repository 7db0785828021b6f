"""The ceiling of the reports benchmark: a bare Starlette endpoint, served like the gateway.

``python -m bench.bare_app --port P`` serves ``GET|POST /callbacks/{nickname}/{token}``,
which reads the body and answers a JSON object the size of the gateway's, with the
server setup of ``smsgate serve``: one uvicorn worker, the same ``uvicorn.Config``
(``log_level="info"``, uvicorn's own access log off). What the gateway adds on top, its
middleware and its own access log line included, is the gateway's cost.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def receive(request: Request) -> JSONResponse:
    """Read the body and answer; nothing else."""
    await request.body()
    return JSONResponse({"received": 1, "matched": 1, "waiting": 0})


def create_app() -> Starlette:
    """The bare application."""
    return Starlette(
        routes=[Route("/callbacks/{nickname}/{callback_token}", receive, methods=["GET", "POST"])]
    )


def main() -> None:
    """The command line: ``--host`` and ``--port``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # As `smsgate serve` configures uvicorn (smsgate.cli.main.serve).
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(),
            host=args.host,
            port=args.port,
            log_level="info",
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )
    server.run()


if __name__ == "__main__":
    main()
