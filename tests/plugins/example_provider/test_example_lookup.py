"""lookup_status for example_provider: what ``GET /v1/messages/{id}`` teaches, and what not.

Recorded from the sandbox over real HTTP (see ``example_cassettes``): each test sends first,
so that the sandbox knows the message, then looks it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import example_cassettes
import httpx
import pytest
from pydantic import SecretStr

from smsgate import DeliveryEvent, EventKind, OutboundMessage, Outcome, SubmittedMessage
from smsgate.plugins import PluginSet, VendorPlugin
from smsgate_example_provider.options import ExampleOptions

options = example_cassettes.options
vcr_config = example_cassettes.vcr_config
vcr_cassette_dir = example_cassettes.vcr_cassette_dir

TO = "+919876543210"


@pytest.fixture
def example(plugins: PluginSet) -> VendorPlugin:
    return plugins.get("example_provider")


def submit(example: VendorPlugin, options: ExampleOptions) -> SubmittedMessage:
    """Send one message over HTTP; the sandbox's id for it, as smsgate stores it."""
    built = example.build_payload([OutboundMessage(1, "ct-1.", TO, "Your code is 4821")], options)

    async def run() -> str | None:
        async with httpx.AsyncClient() as client:
            (result,) = await example.send_batch(built.requests, client, options)
        assert result.outcome is Outcome.SUBMITTED
        return result.vendor_id

    vendor_id = asyncio.run(run())
    assert vendor_id is not None
    return SubmittedMessage(1, vendor_id, TO, datetime(2026, 11, 25, tzinfo=UTC))


def look_up(
    example: VendorPlugin, options: ExampleOptions, messages: Sequence[SubmittedMessage]
) -> list[DeliveryEvent]:
    async def run() -> list[DeliveryEvent]:
        async with httpx.AsyncClient() as client:
            return await example.lookup_status(messages, client, options)

    return asyncio.run(run())


@pytest.mark.vcr
def test_a_delivered_message_is_learned_as_delivered(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    sent = submit(example, options)

    (event,) = look_up(example, options, [sent])

    assert (event.vendor_id, event.kind, event.to) == (sent.vendor_id, EventKind.DELIVERED, TO)
    assert event.occurred_at.tzinfo is not None


@pytest.mark.vcr
def test_an_id_the_vendor_does_not_know_teaches_nothing(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    stranger = SubmittedMessage(9, "msg_000000000000000000000000", TO, datetime.now(UTC))

    assert look_up(example, options, [stranger]) == []


@pytest.mark.vcr
def test_a_refused_api_key_teaches_nothing_and_invents_no_failure(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    sent = submit(example, options)
    wrong = options.model_copy(update={"api_key": SecretStr("sk_test_not_the_key")})

    assert look_up(example, wrong, [sent]) == []
