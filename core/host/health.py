"""``/healthz`` and ``/readyz``: is the process alive, and can it do its work."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from smsgate.host.gateway import Gateway
from smsgate.storage.database import file_gone, reading


async def healthz(request: Request) -> JSONResponse:
    """Alive: the event loop answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready: the database answers and the plugins are loaded.

    A broken plugin is listed but does not make the gateway unready: the other nicknames
    still work, and pulling the process out of a load balancer would stop them too.
    """
    gateway: Gateway = request.app.state.gateway

    def ping() -> str | None:
        gone = file_gone(gateway.engine)
        if gone is not None:
            return f"its file {gone} is gone"
        try:
            with reading(gateway.engine).connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            return type(exc).__name__
        return None

    database_error = await run_in_threadpool(ping)
    body = {
        "status": "ok" if database_error is None else "unavailable",
        "database": "ok" if database_error is None else f"unreachable ({database_error})",
        "providers": {
            name: provider.broken or "ok" for name, provider in gateway.config.providers.items()
        },
    }
    return JSONResponse(body, status_code=200 if database_error is None else 503)
