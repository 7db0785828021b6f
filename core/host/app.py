"""The Starlette application: routes, error handling and the lifespan of shared state."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smsgate.admin.purge import Purger
from smsgate.config import Config
from smsgate.dashboard import mount as dashboard_routes
from smsgate.delivery import DeliveryWorkers
from smsgate.dispatch import Dispatcher
from smsgate.errors import ProviderUnavailableError, RequestError, UnknownProviderError
from smsgate.host import api, callbacks, clevertap, health, metrics
from smsgate.host.gateway import Gateway
from smsgate.host.logs import RequestContext
from smsgate.host.redaction import hide_secrets, redact_logs, register_config
from smsgate.storage.database import create_engine, prepare_schema

logger = logging.getLogger(__name__)


def create_app(config: Config, *, engine: Engine | None = None) -> Starlette:
    """The gateway as an ASGI application.

    On start it checks the database schema: SQLite is migrated automatically (one process
    owns the file), other databases must be upgraded with ``smsgate db upgrade`` first,
    unless ``auto_migrate`` says otherwise. Then it starts the dispatch workers (unless
    ``[gateway.dispatch] enabled = false``) and the delivery workers that relay reports to
    CleverTap (unless ``[gateway.delivery] enabled = false``), and the hourly purge when
    ``[gateway] purge_after`` is set; on shutdown they stop claiming and finish what is in
    flight before the database is closed.

    Besides CleverTap's and the vendors' endpoints it serves ``/metrics``, the admin API
    under ``/api/`` and the dashboard under ``/dashboard/`` (both need the admin token).
    Every request gets an ``X-Request-ID`` and one access log line; every secret of
    ``config`` is masked in every log line from here on.
    """
    register_config(config)
    redact_logs()
    observed = metrics.Metrics(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = config.database_url
        own_engine = engine is None
        database = engine if engine is not None else create_engine(url)
        prepare_schema(database, url, auto_migrate=config.settings.gateway.auto_migrate)
        for nickname, reason in config.broken.items():
            logger.error("provider %r is unavailable: %s", nickname, reason)
        gateway = Gateway(config=config, engine=database)
        app.state.gateway = gateway
        observed.database.gateway = gateway
        dispatch = config.settings.gateway.dispatch
        # Its workers make (and close) their HTTP clients themselves, one each.
        dispatcher = Dispatcher(config, database, observer=observed) if dispatch.enabled else None
        app.state.dispatcher = dispatcher
        relaying = config.settings.gateway.delivery.enabled
        delivery = DeliveryWorkers(config, database) if relaying else None
        app.state.delivery = delivery
        purge_after = config.settings.gateway.purge_after
        give_up = timedelta(seconds=config.settings.gateway.delivery.relay_give_up_after)
        purger = (
            Purger(database, purge_after, relay_give_up=give_up)
            if purge_after is not None
            else None
        )
        try:
            if dispatcher is not None:
                gateway.accepted_listeners.append(dispatcher.notify)
                await dispatcher.start()
            if delivery is not None:
                await delivery.start()
            if purger is not None:
                await purger.start()
            yield
        finally:
            observed.database.gateway = None
            if purger is not None:
                await purger.stop()
            if delivery is not None:
                await delivery.stop()
            if dispatcher is not None:
                await dispatcher.stop()
            if own_engine:
                database.dispose()

    routes: list[BaseRoute] = [
        Route(
            "/clevertap/{nickname}",
            metrics.observe_intake(clevertap.send),
            methods=["GET", "POST"],
        ),
        Route(
            "/callbacks/{nickname}/{callback_token}",
            metrics.observe_callbacks(callbacks.receive),
            methods=["GET", "POST"],
        ),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *api.routes(),
        *dashboard_routes(config),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestContext)],
        exception_handlers={
            RequestError: _request_error,
            UnknownProviderError: _unknown_provider,
            ProviderUnavailableError: _provider_unavailable,
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
    )
    app.state.metrics = observed
    return app


# Errors may quote what the client sent (a nickname, a key, a parameter), and a client may
# send a secret there: every error answer is masked on its way out.


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    # The rest of a body too large or too slow is not waited for: the connection goes with
    # the answer, or a client trickling bytes would keep its socket and its slot.
    headers = dict(exc.headers)
    if exc.status_code in (408, 413):
        headers["Connection"] = "close"
    return JSONResponse(
        {"error": hide_secrets(exc.message)}, status_code=exc.status_code, headers=headers
    )


async def _unknown_provider(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": hide_secrets(str(exc))}, status_code=404)


async def _provider_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProviderUnavailableError)
    return JSONResponse({"error": hide_secrets(str(exc))}, status_code=503)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"error": hide_secrets(str(exc.detail))}, status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error; see the gateway log"}, status_code=500)
