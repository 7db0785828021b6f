"""Keeping secrets that travel in URLs out of the log lines other libraries write.

Two libraries log whole URLs at INFO, which ``smsgate serve`` shows:

- uvicorn's access log, with the path of every request: a vendor's delivery report URL
  ends in the nickname's callback token (``/callbacks/{nickname}/{callback_token}``);
- httpx, with every request it makes: a vendor API that takes its credentials in the
  query (Pingbix's status lookup: ``?userid=…&password=…``) would print them.

:func:`redact_logs` adds a filter to both loggers that masks the token, and the value of any
query parameter whose name says it is a credential, before the line is formatted.
"""

from __future__ import annotations

import logging
import re

__all__ = ["LOGGERS", "redact", "redact_logs"]

#: The loggers that write URLs.
LOGGERS = ("uvicorn.access", "httpx")
MASK = "****"

_TOKEN_IN_PATH = re.compile(r"(/callbacks/[^/?#\s\"]+/)[^/?#\s\"]+")
_CREDENTIAL_IN_QUERY = re.compile(
    r"([?&](?:password|passwd|pwd|pass|secret|token|api_?key|apikey|authkey|access_token|key)=)"
    r"[^&#\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with callback tokens in paths and credentials in queries masked."""
    text = _TOKEN_IN_PATH.sub(rf"\1{MASK}", text)
    return _CREDENTIAL_IN_QUERY.sub(rf"\1{MASK}", text)


class _Redactor(logging.Filter):
    """Masks secrets in a record's message and arguments (URLs included) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redacted(arg) for arg in args)
        elif isinstance(args, dict):
            record.args = {key: _redacted(value) for key, value in args.items()}
        return True


def _redacted(value: object) -> object:
    if isinstance(value, str | bytes | int | float | type(None)):
        return redact(value) if isinstance(value, str) else value
    # URLs and other objects are written by their str(): mask that, if it needs masking.
    text = str(value)
    masked = redact(text)
    return masked if masked != text else value


_FILTER = _Redactor()


def redact_logs(*names: str) -> None:
    """Add the redacting filter to ``names`` (default :data:`LOGGERS`); idempotent."""
    for name in names or LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
