"""The Starlette application: routes, error handling and the lifespan of shared state."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsgate.config import Config
from smsgate.delivery import DeliveryWorkers
from smsgate.dispatch import Dispatcher, new_http_client
from smsgate.errors import ProviderUnavailableError, RequestError, UnknownProviderError
from smsgate.host import callbacks, clevertap, health
from smsgate.host.gateway import Gateway
from smsgate.host.redaction import redact_logs
from smsgate.storage.database import check_schema, create_engine, upgrade

logger = logging.getLogger(__name__)


def create_app(config: Config, *, engine: Engine | None = None) -> Starlette:
    """The gateway as an ASGI application.

    On start it checks the database schema: SQLite is migrated automatically (one process
    owns the file), other databases must be upgraded with ``smsgate db upgrade`` first,
    unless ``auto_migrate`` says otherwise. Then it starts the dispatch workers (unless
    ``[gateway.dispatch] enabled = false``) and the delivery workers that relay reports to
    CleverTap (unless ``[gateway.delivery] enabled = false``); on shutdown they stop claiming
    and finish what is in flight before the database is closed.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = config.database_url
        own_engine = engine is None
        database = engine if engine is not None else create_engine(url)
        auto_migrate = config.settings.gateway.auto_migrate
        if auto_migrate is None:
            auto_migrate = database.dialect.name == "sqlite"
        if auto_migrate:
            upgrade(url)
        check_schema(database)
        for nickname, reason in config.broken.items():
            logger.error("provider %r is unavailable: %s", nickname, reason)
        gateway = Gateway(config=config, engine=database)
        app.state.gateway = gateway
        dispatch = config.settings.gateway.dispatch
        client = new_http_client(dispatch) if dispatch.enabled else None
        dispatcher = Dispatcher(config, database, client) if client is not None else None
        app.state.dispatcher = dispatcher
        relaying = config.settings.gateway.delivery.enabled
        delivery = DeliveryWorkers(config, database) if relaying else None
        app.state.delivery = delivery
        redact_logs()
        try:
            if dispatcher is not None:
                gateway.accepted_listeners.append(dispatcher.notify)
                await dispatcher.start()
            if delivery is not None:
                await delivery.start()
            yield
        finally:
            if delivery is not None:
                await delivery.stop()
            if dispatcher is not None:
                await dispatcher.stop()
            if client is not None:
                await client.aclose()
            if own_engine:
                database.dispose()

    routes = [
        Route("/clevertap/{nickname}", clevertap.send, methods=["GET", "POST"]),
        Route("/callbacks/{nickname}/{callback_token}", callbacks.receive, methods=["GET", "POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            RequestError: _request_error,
            UnknownProviderError: _unknown_provider,
            ProviderUnavailableError: _provider_unavailable,
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
    )


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.message}, status_code=exc.status_code)


async def _unknown_provider(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=404)


async def _provider_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProviderUnavailableError)
    return JSONResponse({"error": str(exc)}, status_code=503)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error; see the gateway log"}, status_code=500)
