"""Helpers for the delivery tests: a hand-moved clock, events and inbox queries, a config.

Messages in each state come from :mod:`message_builders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN
from message_builders import NICK, START, message, relays

from smsgate.config import Config, load_config
from smsgate.plugins import load_plugins
from smsgate.storage.models import DeliveryInbox, MessageEvent

EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def events(engine: sa.Engine, message_id: str) -> list[Any]:
    """The events of one message, oldest first."""
    pk = message(engine, message_id).id
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(EVENTS).where(EVENTS.c.message_pk == pk).order_by(EVENTS.c.id)
            )
        )


def inbox(engine: sa.Engine) -> list[Any]:
    """Every waiting report, oldest first."""
    with engine.connect() as connection:
        return list(connection.execute(sa.select(INBOX).order_by(INBOX.c.id)))


def relayed(engine: sa.Engine) -> list[tuple[str, str, dict[str, Any]]]:
    """``(event, meta, record)`` of every relay row, oldest first."""
    return [(row.event, row.record["meta"], row.record) for row in relays(engine)]


def write_config(
    path: Path,
    database_url: str,
    clevertap_url: str,
    *,
    delivery: Mapping[str, Any] | None = None,
    base_url: str = "http://127.0.0.1:9",
    extra: str = "",
) -> Config:
    """A config with one Pingbix nickname, :data:`NICK`, relaying to ``clevertap_url``."""
    table = "".join(
        f"{key} = {str(value).lower() if isinstance(value, bool) else value!r}\n".replace("'", '"')
        for key, value in (delivery or {}).items()
    )
    path.write_text(
        f"""\
[gateway]
database_url = "{database_url}"
public_url = "http://127.0.0.1:8000"

[gateway.dispatch]
enabled = false

[gateway.delivery]
{table}
[providers.{NICK}]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "{clevertap_url}"
default_country = "IN"

[providers.{NICK}.options]
base_url = "{base_url}"
userid = "demo"
password = "demo-password"
senderid = "ACMEIN"
{extra}"""
    )
    return load_config(path, load_plugins())
