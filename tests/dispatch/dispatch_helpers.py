"""Helpers for the dispatcher's tests: a clock moved by hand, configs, messages, queries."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN
from fakevendor import FakeVendor, FakeVendorPlugin

from smsgate.config import Config, load_config
from smsgate.dispatch import Dispatcher, DispatchSettings
from smsgate.intake.records import Rejection, prepare_record
from smsgate.plugins import load_plugins
from smsgate.storage.intake import store_records
from smsgate.storage.models import Message, MessageEvent, ProviderState

T = TypeVar("T")

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def provider_toml(
    nickname: str,
    base_url: str,
    *,
    api_key: str = "good-key",
    rate_limit: float | None = None,
    fallback: str | None = None,
    read_timeout: float = 10.0,
    concurrency: int = 100,
) -> str:
    """A ``[providers.<nickname>]`` table using the fakevendor plugin."""
    lines = [
        f"[providers.{nickname}]",
        'plugin = "fakevendor"',
        f'token = "{TOKEN}"',
        f'callback_token = "{CALLBACK_TOKEN}"',
        'clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"',
        'default_country = "IN"',
    ]
    if rate_limit is not None:
        lines.append(f"rate_limit = {rate_limit}")
    if fallback is not None:
        lines.append(f'fallback = "{fallback}"')
    lines += [
        f"[providers.{nickname}.options]",
        f'base_url = "{base_url}"',
        f'api_key = "{api_key}"',
        f"read_timeout = {read_timeout}",
        f"concurrency = {concurrency}",
    ]
    return "\n".join(lines) + "\n"


def write_config(
    path: Path, database_url: str, providers: str, dispatch: dict[str, Any] | None = None
) -> Path:
    """Write a gateway config file with ``providers`` and a ``[gateway.dispatch]`` table."""
    table = "".join(
        f"{key} = {str(value).lower() if isinstance(value, bool) else value!r}\n".replace("'", '"')
        for key, value in (dispatch or {}).items()
    )
    path.write_text(
        textwrap.dedent(
            f"""\
            [gateway]
            database_url = "{database_url}"
            public_url = "http://127.0.0.1:8000"

            [gateway.dispatch]
            """
        )
        + table
        + "\n"
        + providers
    )
    return path


def load(path: Path, plugin: FakeVendorPlugin) -> Config:
    """Load ``path`` with the fakevendor plugin registered by hand."""
    return load_config(path, load_plugins(use_entry_points=False, extra={"fakevendor": plugin}))


def accept(
    engine: sa.Engine,
    nickname: str,
    records: Sequence[dict[str, Any]],
    now: datetime,
) -> None:
    """Store records the way the CleverTap endpoint does."""
    rows = []
    for index, record in enumerate(records):
        prepared = prepare_record(index, record, nickname=nickname, default_country="IN", now=now)
        assert not isinstance(prepared, Rejection), prepared
        rows.append(prepared)
    store_records(engine, nickname, rows, [], now)


def texts(count: int, prefix: str = "m", body: str = "hello") -> list[dict[str, Any]]:
    """``count`` records with message ids ``<prefix>0``, ``<prefix>1`` …"""
    return [
        {"to": f"98450{i:05d}", "body": body, "message_id": f"{prefix}{i}"} for i in range(count)
    ]


def message(engine: sa.Engine, message_id: str) -> Any:
    """The messages row of CleverTap's ``message_id``."""
    table = Message.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return connection.execute(sa.select(table).where(table.c.message_id == message_id)).one()


def messages(engine: sa.Engine) -> list[Any]:
    """Every messages row, by id."""
    table = Message.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(connection.execute(sa.select(table).order_by(table.c.id)))


def events(engine: sa.Engine, message_id: str) -> list[Any]:
    """The events of one message, oldest first."""
    table = MessageEvent.__table__  # type: ignore[attr-defined]
    pk = message(engine, message_id).id
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(table).where(table.c.message_pk == pk).order_by(table.c.id)
            )
        )


def kinds(engine: sa.Engine, message_id: str) -> list[str]:
    """The kinds of one message's events, oldest first."""
    return [event.kind for event in events(engine, message_id)]


def circuit(engine: sa.Engine, nickname: str) -> str:
    """The circuit state stored for ``nickname``."""
    table = ProviderState.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return str(
            connection.execute(
                sa.select(table.c.circuit).where(table.c.nickname == nickname)
            ).scalar_one()
        )


@dataclass
class Rig:
    """A dispatcher wired to a fake vendor, a clock and a jitter source, for one test."""

    engine: sa.Engine
    vendor: FakeVendor
    plugin: FakeVendorPlugin
    clock: FakeClock
    config: Config
    jitter: list[float]

    def random(self) -> float:
        """The jitter source: the last value set in :attr:`jitter`."""
        return self.jitter[-1]

    def run(self, work: Callable[[Dispatcher], Awaitable[T]], *, owner: str = "worker-a") -> T:
        """Run ``work`` with a fresh dispatcher (and HTTP client) on a new event loop."""

        async def main() -> T:
            async with httpx.AsyncClient() as client:
                dispatcher = Dispatcher(
                    self.config,
                    self.engine,
                    client,
                    clock=self.clock,
                    random=self.random,
                    owner=owner,
                )
                return await work(dispatcher)

        return asyncio.run(main())

    def dispatch(self, nickname: str = "fake", *, owner: str = "worker-a") -> Any:
        """One claim-send-record round for ``nickname``."""
        return self.run(lambda d: d.dispatch_once(nickname), owner=owner)

    def accept(self, records: Sequence[dict[str, Any]], nickname: str = "fake") -> None:
        """Store records for ``nickname`` at the clock's time."""
        accept(self.engine, nickname, records, self.clock())

    @property
    def settings(self) -> DispatchSettings:
        """The dispatch settings in force."""
        return self.config.settings.gateway.dispatch


#: What the ``make_rig`` fixture is: keyword arguments are ``[gateway.dispatch]`` keys.
RigFactory = Callable[..., Rig]
