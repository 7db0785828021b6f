"""Start-up failures of ``smsgate serve`` as one line for the operator, not a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.errors import SmsgateError
from smsgate.storage.database import display_url, url_passwords

if TYPE_CHECKING:
    from smsgate.config import Config


class StartupGuard:
    """Wraps the application so that an expected start-up failure is remembered, not dumped.

    When the lifespan raises a :class:`SmsgateError` (an old schema, say) or the database
    cannot be used (unreachable, not a database, a parameter the driver refuses), the server
    is told that start-up failed without the traceback Starlette attaches, and the reason is
    kept in :attr:`failure` for the command line to print. Any other exception keeps its
    traceback: that one is a bug.
    """

    def __init__(self, app: ASGIApp, config: Config | None = None) -> None:
        self.app = app
        self.config = config
        self.failure: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass every request through; watch the lifespan's start-up."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_startup_failure(message: Message) -> None:
            # Starlette reports the failure before it re-raises; wait to see what was raised.
            if message["type"] == "lifespan.startup.failed":
                held.append(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, hold_startup_failure)
        except (SmsgateError, DBAPIError) as exc:
            if not held or not expected(exc):
                raise
            self.failure = describe_startup_error(exc, self.config)
            await send({"type": "lifespan.startup.failed", "message": ""})
        except BaseException:
            for message in held:
                await send(message)
            raise


def expected(exc: SmsgateError | DBAPIError) -> bool:
    """Whether ``exc`` is the database's or the operator's, not a bug of ours.

    An unreachable server, and anything the driver refused before a statement of ours ran
    (a file that is not a database, a URL parameter it does not know), is the database's.
    An error from one of our statements keeps its traceback.
    """
    return not isinstance(exc, DBAPIError) or (
        isinstance(exc, OperationalError) or exc.statement is None
    )


def describe_startup_error(exc: SmsgateError | DBAPIError, config: Config | None = None) -> str:
    """One line that says what is wrong and what to do; ``config`` names the URL and file.

    A database error is one the driver raised: the server did not answer, or the file is
    not a database, or the URL carries a parameter the driver refuses.
    """
    if isinstance(exc, DBAPIError):
        what = "cannot reach" if isinstance(exc, OperationalError) else "cannot use"
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if config is None:
            return f"{what} the database: {reason}; check gateway.database_url"
        # The driver quotes what it was given, and a password with an unencoded "@" is half
        # taken for the host name.
        for password in url_passwords(config.database_url):
            reason = reason.replace(password, "***")
        # A SQLite path is resolved against the config file's folder: show where it led.
        return (
            f"{what} the database: {reason} ({display_url(config.database_url)}); "
            f"check gateway.database_url in {config.path}"
        )
    return str(exc)
