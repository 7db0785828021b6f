"""``/healthz`` and ``/readyz``: is the process alive, and can it do its work."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from smsgate.host.gateway import Gateway
from smsgate.storage.database import file_gone, head_revision, reading

_REVISION = sa.text("SELECT version_num FROM alembic_version")


@functools.cache
def _expected_revision() -> str | None:
    return head_revision()


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
            return f"unreachable (its file {gone} is gone)"
        try:
            with reading(gateway.engine).connect() as connection:
                revision = connection.execute(_REVISION).scalar()
        except SQLAlchemyError as exc:
            return f"unreachable ({type(exc).__name__})"
        # Another process ran `smsgate db upgrade` (or a downgrade) under this one: its
        # statements may no longer fit the tables, so it must leave the load balancer.
        if revision != _expected_revision():
            return (
                f"the schema is at revision {revision}, this process was built for"
                f" {_expected_revision()}: restart it on the smsgate version that migrated it"
            )
        return None

    database_error = await run_in_threadpool(ping)
    body = {
        "status": "ok" if database_error is None else "unavailable",
        "database": "ok" if database_error is None else database_error,
        "providers": {
            name: provider.broken or "ok" for name, provider in gateway.config.providers.items()
        },
    }
    return JSONResponse(body, status_code=200 if database_error is None else 503)
