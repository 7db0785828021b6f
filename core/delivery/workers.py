"""The delivery side of ``smsgate serve``: relay tasks, the inbox sweep and status lookups.

Started and stopped by the application's lifespan beside the dispatcher. Any number of
processes may share one PostgreSQL database: every step is a short transaction that claims
with ``FOR UPDATE SKIP LOCKED`` (and a lease where an HTTP call follows), so no record is
relayed by two processes at once and a crashed process's work is picked up when its lease
runs out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random as random_module
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from smsgate.delivery import lookup, matching, outbox
from smsgate.delivery.relay import RelayReport, relay_batch
from smsgate.delivery.reports import normalise, secrets_of
from smsgate.delivery.settings import DeliverySettings
from smsgate.dispatch.backoff import Clock, Random, system_clock
from smsgate.errors import PluginHookError
from smsgate.periodic import Loops

if TYPE_CHECKING:
    from pydantic import BaseModel

    from smsgate.config import Config
    from smsgate.plugins import VendorPlugin

__all__ = ["DeliveryWorkers", "SweepReport"]

logger = logging.getLogger(__name__)

#: Relayed records are purged this often, not at every sweep: finding them walks every
#: relayed record still kept (``done_retention``: a week's worth), about 100 ms per 400,000
#: on SQLite here, which every two seconds would be a steady load for nothing.
_PURGE_EVERY = timedelta(minutes=10)
_MAINTENANCE = "delivery maintenance"


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one maintenance pass did."""

    matched: int = 0
    purged_inbox: int = 0
    purged_done: int = 0


@dataclass(frozen=True, slots=True)
class _Looker:
    plugin: VendorPlugin
    options: BaseModel
    secrets: tuple[str, ...]


class DeliveryWorkers:
    """Relays reports to CleverTap, matches early reports and looks up missing ones.

    :param config: the loaded configuration: providers and ``[gateway.delivery]``.
    :param engine: the database.
    :param client: the HTTP client for CleverTap and status lookups; made (and closed) by
        :meth:`start` / :meth:`stop` when not given.
    :param settings: overrides ``config.settings.gateway.delivery``.
    :param clock: "now"; tests pass a clock they move by hand.
    :param random: the jitter source, a float in [0, 1); by default a generator of its own,
        so that the workers never draw from (and move) the ``random`` module's shared one.
    :param owner: this process's name on its leases; unique per process by default.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        client: httpx.AsyncClient | None = None,
        settings: DeliverySettings | None = None,
        clock: Clock = system_clock,
        random: Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings or config.settings.gateway.delivery
        self.engine = engine
        self.owner = owner or _process_name()
        self.client = client
        self._own_client = client is None
        self._clock = clock
        self._random = random or random_module.Random().random
        #: nickname -> CleverTap callback URL, for every configured nickname.
        self._urls = {
            nickname: provider.settings.clevertap_callback_url
            for nickname, provider in config.providers.items()
        }
        self._give_up = config.settings.gateway.dispatch.validity + self.settings.lookup_grace
        #: The longest a send can take: a report older than this is about no send in flight.
        self._send_lease = config.settings.gateway.dispatch.lease
        self._lookers = _lookers(config)
        self._purged_at: datetime | None = None
        self._loops = Loops(logger)

    def notify(self) -> None:
        """Reports were stored: wake idle relay tasks now instead of at the next poll."""
        self._loops.notify()

    async def start(self) -> None:
        """Start the relay tasks, the sweep, and the lookups where a plugin offers them."""
        self._loops.start()
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=self.settings.relay_timeout,
                limits=httpx.Limits(max_connections=max(10, 2 * self.settings.relay_concurrency)),
            )
        for index in range(self.settings.relay_concurrency):
            self._loops.spawn(self._relay_forever(index), name=f"smsgate-relay-{index}")
        self._loops.spawn(
            self._loops.every(self.settings.sweep_interval, self.sweep_once, _MAINTENANCE),
            name="smsgate-sweep",
        )
        if self._lookers:
            self._loops.spawn(
                self._loops.every(
                    self.settings.lookup_poll_interval, self.lookup_all, _MAINTENANCE
                ),
                name="smsgate-lookup",
            )
        logger.info(
            "relaying reports to CleverTap for %s with %d tasks as %s",
            ", ".join(self._urls) or "no provider",
            self.settings.relay_concurrency,
            self.owner,
        )

    async def stop(self) -> None:
        """Stop taking work; a POST in flight may finish within ``relay_timeout``."""
        await self._loops.stop(self.settings.relay_timeout + 1)
        if self._own_client and self.client is not None:
            await self.client.aclose()
            self.client = None

    async def relay_once(self, nickname: str) -> RelayReport:
        """Relay one batch of ``nickname``'s due records."""
        if self.client is None:
            raise RuntimeError("start() the workers first, or pass a client")
        return await relay_batch(
            self.engine,
            self.client,
            nickname,
            self._urls[nickname],
            owner=self.owner,
            settings=self.settings,
            clock=self._clock,
            random=self._random,
        )

    async def sweep_once(self) -> SweepReport:
        """Match early reports whose message is known by now; purge what is past keeping."""
        now = self._clock()
        swept = await asyncio.to_thread(
            matching.sweep_inbox,
            self.engine,
            now,
            retention=self.settings.inbox_retention,
            adopt_after=self._send_lease,
        )
        if swept.adopted:
            logger.info(
                "%d unknown message(s) took their vendor ids from delivery reports about"
                " their numbers",
                swept.adopted,
            )
        purged = 0
        if self._purged_at is None or now - self._purged_at >= _PURGE_EVERY:
            purged = await asyncio.to_thread(
                outbox.purge_done,
                self.engine,
                now - timedelta(seconds=self.settings.done_retention),
            )
            self._purged_at = now
        if swept.matched:
            self.notify()
        if swept.purged:
            logger.info("purged %d delivery report(s) that never matched a message", swept.purged)
        return SweepReport(matched=swept.matched, purged_inbox=swept.purged, purged_done=purged)

    async def lookup_all(self) -> int:
        """Look up every route's due messages once; the number of events learned."""
        learned = 0
        for route in self._lookers:
            if self._loops.stopping:
                break
            learned += await self.lookup_once(route)
        return learned

    async def lookup_once(self, route: str) -> int:
        """Ask ``route``'s vendor about one batch of messages without a final report."""
        if self.client is None:
            raise RuntimeError("start() the workers first, or pass a client")
        looker = self._lookers[route]
        messages = await asyncio.to_thread(
            lookup.claim_lookups,
            self.engine,
            route,
            self._clock(),
            after=self.settings.lookup_after,
            give_up=self._give_up,
            limit=self.settings.lookup_batch_size,
        )
        if not messages:
            return 0
        try:
            events = await asyncio.wait_for(
                looker.plugin.lookup_status(messages, self.client, looker.options),
                timeout=self.settings.relay_lease,
            )
        except (PluginHookError, TimeoutError) as exc:
            logger.warning("status lookup for %r learned nothing: %s", route, exc)
            return 0
        now = self._clock()
        reports = []
        for event in events:
            try:
                reports.append(
                    normalise(event, received_at=now, source="lookup", secrets=looker.secrets)
                )
            except ValueError as exc:
                logger.warning("status lookup for %r: unusable event: %s", route, exc)
        stored = await asyncio.to_thread(matching.store_reports, self.engine, route, reports, now)
        if stored.applied:
            self.notify()
        return stored.matched

    async def _relay_forever(self, index: int) -> None:
        nicknames = list(self._urls)
        if nicknames:
            # Tasks start at different nicknames so that one slow CleverTap URL does not hold
            # them all.
            start = index % len(nicknames)
            nicknames = nicknames[start:] + nicknames[:start]

        async def round_() -> float | None:
            progressed = False
            for nickname in nicknames:
                if self._loops.stopping:
                    break
                try:
                    report = await self.relay_once(nickname)
                except SQLAlchemyError as exc:
                    logger.warning("relay for %r: database error: %s", nickname, exc)
                    continue
                except Exception:
                    logger.exception("relay for %r failed", nickname)
                    continue
                progressed = progressed or report.claimed >= self.settings.relay_batch_size
            return None if progressed else self.settings.relay_poll_interval

        await self._loops.poll(round_)


def _lookers(config: Config) -> dict[str, _Looker]:
    lookers: dict[str, _Looker] = {}
    for nickname, provider in config.providers.items():
        plugin = provider.plugin
        if provider.broken or plugin is None or provider.options is None:
            continue
        if "lookup_status" not in plugin.hooks:
            continue
        secrets = secrets_of(
            provider.settings.callback_token, provider.settings.token, provider.options
        )
        lookers[nickname] = _Looker(plugin, provider.options, tuple(secrets))
    return lookers


def _process_name() -> str:
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
