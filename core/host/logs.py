"""The server's log: one line per event, with the request id, as text or as JSON.

``[gateway] log_format`` chooses ``text`` (``2026-11-25 09:00:00,123 INFO smsgate.access
[3f2a…] GET /clevertap/pingbix-in 202 12.5 ms``) or ``json`` (one object per line: ``ts``,
``level``, ``logger``, ``message``, ``request_id`` when there is one, the event's named
fields, and ``exc`` for a traceback). Both go to stderr. Secrets are already masked when a
line gets here (:mod:`smsgate.host.redaction`).

:class:`RequestContext` gives every HTTP request an id (the caller's ``X-Request-ID`` when
it is a sane token, a new one otherwise), echoes it in the answer, makes it part of every log
line written while the request is handled, and writes one access line per request (method,
path without the query string, status, duration, client). uvicorn's own access log is
switched off by ``serve``: it would repeat the line without the id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.host.redaction import hide_secrets, redact
from smsgate.host.redaction import install as install_redaction

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "RequestContext",
    "TextFormatter",
    "configure_logging",
    "current_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "smsgate_request_id", default=None
)
access_logger = logging.getLogger("smsgate.access")
_HANDLER_NAME = "smsgate"
_ACCESS_LINE = "%(method)s %(path)s %(status)d %(duration_ms).1f ms"


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _request_id.get()


class _RequestIdFilter(logging.Filter):
    """Puts the current request id on each record the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # The caller chose the id: it could hold anything, even a token.
            request_id = _request_id.get()
            masked = hide_secrets(request_id) if request_id else None
            setattr(record, "request_id", masked)  # noqa: B010 - an extra field
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message``, the traceback below it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_part)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one text line (plus its traceback, if any)."""
        request_id = getattr(record, "request_id", None)
        setattr(record, "request_part", f" [{request_id}]" if request_id else "")  # noqa: B010
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if isinstance(record.args, Mapping):
            # Named arguments are the event's fields.
            for key, value in record.args.items():
                if isinstance(key, str) and key not in line:
                    line[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(
    log_format: Literal["text", "json"] = "text",
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records to one stderr handler in ``log_format``; returns it.

    Replaces the handler an earlier call installed (so a second call does not double the
    lines), and installs the redacting record factory.
    """
    install_redaction()
    # Neither format writes the thread, the process or the caller's file and line: not
    # looking them up makes every line (one per request) cheaper. These are the switches
    # of the "Optimization" section of Python's logging HOWTO.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_RequestIdFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers get handlers of their own from its default config; let them reach
    # ours instead. Its access log is off in `serve`: RequestContext writes that line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = True
    return handler


class RequestContext:
    """ASGI middleware: a request id for each request, and one access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request under its id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 128 random bits as hex, like a uuid4 without building the UUID object.
        request_id = _incoming_id(scope) or os.urandom(16).hex()
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _access_line(scope, status, time.perf_counter() - started)
            _request_id.reset(token)


def _access_line(scope: Scope, status: int, seconds: float) -> None:
    """Log the request: method, path (never the query string), status, duration, client.

    Every request writes this line, so it skips the record factory's pass over the whole
    line (:mod:`smsgate.host.redaction`): its fields are known, and only the text ones,
    which a client or a proxy chooses, can hold a secret. Each is masked here as the factory
    masks text (43 → 32 µs a line, measured); a pattern that would span two fields, such
    as a method ``BEARER`` before a path holding the token, is not looked for.
    """
    if not access_logger.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    fields = {
        "method": _one_line(redact(scope.get("method", ""))),
        # Never the query string: a GET from CleverTap carries the message in it.
        "path": _one_line(redact(scope.get("path", ""))),
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "client": redact(f"{client[0]}:{client[1]}") if client else "-",
    }
    record = logging.LogRecord(
        access_logger.name, logging.INFO, __file__, 0, _ACCESS_LINE, (fields,), None
    )
    access_logger.handle(record)


def _one_line(text: str) -> str:
    """``text`` with control characters escaped: a decoded ``%0A`` in a path would otherwise
    start a line of the client's own making in a text log."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text if _SANE_ID.match(text) else None
    return None
