"""The dashboard's routes under ``/dashboard``, with its session and headers."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from smsgate.config import Config
from smsgate.dashboard import actions, pages, session
from smsgate.dashboard.render import SecurityHeaders

__all__ = ["PREFIX", "mount"]

PREFIX = "/dashboard"


async def _to_overview(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=308)


async def _off(request: Request) -> Response:
    return HTMLResponse(
        "<!doctype html><title>smsgate</title><p>The dashboard is off: set "
        "<code>[gateway] admin_token</code> in the configuration to turn it on.</p>",
        status_code=404,
    )


def mount(config: Config) -> list[Route | Mount]:
    """The dashboard's routes; without an admin token, a page saying it is off."""
    token = config.settings.gateway.admin_token
    if token is None:
        return [
            Route(PREFIX, _off, methods=["GET"]),
            Mount(PREFIX, routes=[Route("/{path:path}", _off, methods=["GET", "POST"])]),
        ]
    guarded = pages.guarded
    routes = [
        Route("/", guarded(pages.overview), methods=["GET"]),
        Route("/login", guarded(session.login_form, public=True), methods=["GET"]),
        Route("/login", guarded(session.login, public=True), methods=["POST"]),
        Route("/logout", guarded(session.logout), methods=["POST"]),
        Route("/messages", guarded(pages.messages), methods=["GET"]),
        Route("/messages/{id}", guarded(pages.message), methods=["GET"]),
        Route("/messages/{id}/{action}", guarded(actions.message_action), methods=["POST"]),
        Route("/relays", guarded(pages.relays), methods=["GET"]),
        Route("/relays/action", guarded(actions.relay_action), methods=["POST"]),
        Route("/unknown", guarded(pages.unknown), methods=["GET"]),
        Route("/unknown/action", guarded(actions.unknown_action), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("smsgate.dashboard", "static")]), name="static"),
    ]
    https = config.settings.gateway.public_url.startswith("https://")
    return [
        Route(PREFIX, _to_overview, methods=["GET"]),
        Mount(
            PREFIX,
            routes=routes,
            middleware=[
                Middleware(SecurityHeaders),
                Middleware(
                    SessionMiddleware,
                    secret_key=session.session_key(token),
                    session_cookie=session.COOKIE,
                    max_age=session.MAX_AGE,
                    path=PREFIX,
                    same_site="strict",
                    https_only=https,
                ),
            ],
        ),
    ]
