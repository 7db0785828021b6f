"""The optional ``lookup_status`` hook through the typed facade."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from smsgate import DeliveryEvent, EventKind, SubmittedMessage, hookimpl
from smsgate.errors import PluginHookError
from smsgate.plugins import VendorPlugin, load_plugins

SENT = SubmittedMessage(id=1, vendor_id="tx-1", to="+919845000001", submitted_at=datetime.now(UTC))


class Async:
    @hookimpl
    async def lookup_status(self, messages, client, options):
        return [DeliveryEvent(m.vendor_id, EventKind.DELIVERED, m.submitted_at) for m in messages]


class Sync:
    @hookimpl
    def lookup_status(self, messages):
        return [DeliveryEvent(m.vendor_id, EventKind.BUFFERED, m.submitted_at) for m in messages]


class Wrong:
    @hookimpl
    def lookup_status(self):
        return "delivered"


class Without:
    @hookimpl
    def options_model(self):
        from pydantic import BaseModel

        return BaseModel


def facade(plugin: object) -> VendorPlugin:
    return load_plugins(use_entry_points=False, extra={"p": plugin}).get("p")


def look_up(plugin: VendorPlugin) -> list[DeliveryEvent]:
    async def run() -> list[DeliveryEvent]:
        async with httpx.AsyncClient() as client:
            return await plugin.lookup_status([SENT], client, None)  # type: ignore[arg-type]

    return asyncio.run(run())


def test_async_and_plain_implementations_both_answer_with_events():
    assert [e.kind for e in look_up(facade(Async()))] == [EventKind.DELIVERED]
    assert [e.kind for e in look_up(facade(Sync()))] == [EventKind.BUFFERED]
    assert "lookup_status" in facade(Async()).hooks


def test_a_plugin_without_the_hook_or_with_a_wrong_answer_is_a_plugin_error():
    assert "lookup_status" not in facade(Without()).hooks
    with pytest.raises(PluginHookError, match="does not implement lookup_status"):
        look_up(facade(Without()))
    with pytest.raises(PluginHookError, match="lookup_status returned str"):
        look_up(facade(Wrong()))


def test_the_pingbix_plugin_offers_lookups_and_reads_reports():
    hooks = load_plugins().get("pingbix").hooks

    assert {"parse_callback", "lookup_status"} <= set(hooks)
