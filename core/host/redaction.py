"""The one place where secrets are taken out of log lines, and out of what operators see.

Every log record of the process, whoever writes it (our code, uvicorn, httpx, a plugin),
is redacted when it is created: :func:`install` puts a record factory in front of
:mod:`logging`'s, which masks the message, its arguments (named arguments keep their names,
so structured fields stay fields) and any traceback before a handler or formatter sees them.
pytest's ``caplog`` sees the same redacted records as the server's own handler.

What is masked, with ``****``:

- every secret of the loaded configuration (:func:`register_config`): provider tokens,
  callback tokens, the admin token, secret plugin options such as Pingbix's password, and
  the database password;
- a callback token in a path (``/callbacks/{nickname}/{callback_token}``), known or not;
- the value of a query parameter whose name says it is a credential (``password=``,
  ``token=``, ``api_key=`` …), as in an httpx line about a vendor URL;
- the credentials of an ``Authorization`` header written into text (``Bearer …``).

Pages and API answers do not get the URL patterns (a message body may well contain a URL
with ``key=``); :func:`hide_secrets` masks only the configured secrets there.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from smsgate.http import spellings

if TYPE_CHECKING:
    from smsgate.config import Config

__all__ = [
    "IDENTIFIERS",
    "LOGGERS",
    "MASK",
    "hide_secrets",
    "install",
    "mask_all",
    "mask_data",
    "redact",
    "redact_logs",
    "register_config",
    "register_secrets",
]

#: The loggers that write URLs (kept for :func:`redact_logs`).
LOGGERS = ("uvicorn.access", "httpx")
MASK = "****"
#: Keys whose values :func:`mask_data` keeps as they are: ids, not text anyone wrote.
IDENTIFIERS = frozenset({"message_id", "meta", "vendor_id"})
#: Keys under which others' fields are kept: :data:`IDENTIFIERS` are not ours there.
_FOREIGN = frozenset({"raw", "extras"})
#: Shorter values would mask ordinary words; config tokens are at least 8 characters.
_SHORTEST_SECRET = 4

_TOKEN_IN_PATH = re.compile(r"(/callbacks/[^/?#\s\"]+/)[^/?#\s\"]+")
_CREDENTIAL_IN_QUERY = re.compile(
    r"([?&](?:password|passwd|pwd|pass|secret|token|api_?key|apikey|authkey|access_token|key)=)"
    r"[^&#\s\"]*",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_known: re.Pattern[str] | None = None


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values from now on, wherever they appear, also URL-encoded; idempotent."""
    _mask_from_now_on(form for value in values for form in spellings(value))


def register_config(config: Config) -> None:
    """Mask every secret of ``config``: tokens, plugin options, the database password."""
    from smsgate.delivery.reports import secrets_of
    from smsgate.storage.database import url_passwords

    values: list[Any] = [config.settings.gateway.admin_token]
    for provider in config.providers.values():
        values += [provider.settings.token, provider.settings.callback_token]
        # Secret options are SecretStr once validated; the raw table covers broken plugins.
        values += [provider.options, provider.settings.options]
    # Also a password in the URL's query, or one whose unencoded "@" split it in two.
    values += url_passwords(config.database_url)
    # secrets_of gives each secret in its URL-encoded spellings too.
    _mask_from_now_on(secrets_of(*[value for value in values if value is not None]))


def _mask_from_now_on(forms: Iterable[str]) -> None:
    global _secrets, _known
    fresh = {form for form in forms if len(form) >= _SHORTEST_SECRET}
    with _lock:
        if fresh <= _secrets:
            return
        _secrets = _secrets | fresh
        # Longest first, so that a secret containing another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _known = re.compile("|".join(re.escape(value) for value in ordered))


def hide_secrets(text: str) -> str:
    """``text`` with every registered secret masked (and nothing else touched)."""
    known = _known
    return text if known is None else known.sub(MASK, text)


def redact(text: str) -> str:
    """``text`` with secrets, callback tokens in paths and credentials in queries masked."""
    text = hide_secrets(text)
    # Each pattern runs only where the text holds what it needs to match: every request
    # writes an access line, and a substring test costs a tenth of a search that fails.
    if "/callbacks/" in text:
        text = _TOKEN_IN_PATH.sub(rf"\1{MASK}", text)
    if "=" in text:
        text = _CREDENTIAL_IN_QUERY.sub(rf"\1{MASK}", text)
    # "bas", not "basic": the regex's IGNORECASE lets a dotless or dotted i (U+0131, U+0130)
    # stand for "i", which casefold() does not.
    folded = text.casefold()
    if "bearer" in folded or "bas" in folded:
        text = _AUTHORIZATION.sub(rf"\1 {MASK}", text)
    return text


def mask_data(value: Any) -> Any:
    """JSON-like ``value`` with every registered secret masked in its strings.

    Our own identifiers (:data:`IDENTIFIERS`) are left exactly as they are: CleverTap's
    message ids are echoed byte for byte, and an operator compares them with CleverTap's and
    the vendor's; a short vendor password such as ``1200`` would otherwise be masked out of
    every id that happens to contain those digits. Inside what others wrote (a vendor's raw
    fields, a record's extras) a key of the same name is masked like any other.
    """
    return _masked(value, identifiers=IDENTIFIERS)


def mask_all(value: Any) -> Any:
    """:func:`mask_data` without its exceptions: our identifiers are masked too.

    For text about to be cut short or URL-encoded, where a secret would no longer be found.
    """
    return _masked(value, identifiers=frozenset())


def _masked(value: Any, *, identifiers: frozenset[str]) -> Any:
    if isinstance(value, str):
        return hide_secrets(value)
    if isinstance(value, Mapping):
        masked: dict[Any, Any] = {}
        for key, item in value.items():
            shown = (
                item
                if key in identifiers and isinstance(item, str)
                else _masked(item, identifiers=frozenset() if key in _FOREIGN else identifiers)
            )
            # A client chooses the keys of its extras, and may paste a secret there too.
            name = hide_secrets(key) if isinstance(key, str) else key
            while name in masked:
                name += "~"  # two keys that read alike once masked both keep their values
            masked[name] = shown
        return masked
    if isinstance(value, list | tuple):
        return [_masked(item, identifiers=identifiers) for item in value]
    return value


class _Redactor(logging.Filter):
    """Masks secrets in a record's message and arguments in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_smsgate_redacted", False):
        return
    setattr(record, "_smsgate_redacted", True)  # noqa: B010 - not a LogRecord field
    args = record.args
    if isinstance(args, Mapping) and args:
        record.args = {key: _redacted(value) for key, value in args.items()}
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        # A malformed call (wrong number of arguments): logging reports it later; mask both.
        record.msg = redact(str(record.msg))
        record.args = tuple(_redacted(arg) for arg in args) if isinstance(args, tuple) else args
        return
    masked = redact(message)
    if masked != message:
        # A secret may span the format string and an argument: keep the whole line, masked.
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | int | float | bool | type(None)):
        return value
    # URLs and other objects are written by their str(): mask that, if it needs masking.
    text = str(value)
    masked = redact(text)
    return masked if masked != text else value


_FILTER = _Redactor()
_installed = False


def install() -> None:
    """Redact every log record of the process at its creation; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True


def redact_logs(*names: str) -> None:
    """Install the record factory, and a redacting filter on ``names`` (default :data:`LOGGERS`).

    The filter matters only for records made without :mod:`logging`'s factory
    (``logging.makeLogRecord``); it is idempotent, like the factory.
    """
    install()
    for name in names or LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
