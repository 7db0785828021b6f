"""Example SMS, the plugin to start a new vendor from.

**What a contributor changes here:** nothing but names, usually. ``smsgate new-plugin NAME``
writes a copy of this package under a new name, with its own ``pyproject.toml`` (the entry
point in the ``smsgate`` group), tests that run smsgate's contract suite, and a cassette
folder; then the work is in the modules below, each of which starts by saying what changes
there:

- :mod:`~smsgate_example_provider.api`: every name and value of the vendor's API;
- :mod:`~smsgate_example_provider.options`: the operator's settings for one account;
- :mod:`~smsgate_example_provider.payloads`: ``build_payload``, messages to requests (pure);
- :mod:`~smsgate_example_provider.client`: ``send_batch``, performing and judging them;
- :mod:`~smsgate_example_provider.signatures`: verifying signed delivery reports;
- :mod:`~smsgate_example_provider.callbacks`: ``parse_callback``, reports to events;
- :mod:`~smsgate_example_provider.lookup`: ``lookup_status`` (optional hook);
- :mod:`~smsgate_example_provider.sandbox`: ``sandbox_app``, a fake of the vendor.

The hooks below only delegate, so that each module can be read and tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from smsgate import (
    BuiltPayload,
    CallbackRequest,
    DeliveryEvent,
    OutboundMessage,
    SandboxSettings,
    SendResult,
    SubmittedMessage,
    VendorRequest,
    hookimpl,
)
from smsgate_example_provider import callbacks as _callbacks
from smsgate_example_provider import client as _client
from smsgate_example_provider import lookup as _lookup
from smsgate_example_provider import payloads as _payloads
from smsgate_example_provider.options import ExampleOptions

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ExampleOptions",
    "build_payload",
    "lookup_status",
    "options_model",
    "parse_callback",
    "sandbox_app",
    "send_batch",
]


@hookimpl
def options_model() -> type[BaseModel]:
    """The options: base URL, API key, webhook secret, sender, DLT entity, batch size."""
    return ExampleOptions


@hookimpl
def build_payload(messages: Sequence[OutboundMessage], options: ExampleOptions) -> BuiltPayload:
    """Batches of JSON messages (see :mod:`smsgate_example_provider.payloads`)."""
    return _payloads.build_payload(messages, options)


@hookimpl
async def send_batch(
    requests: Sequence[VendorRequest],
    client: httpx.AsyncClient,
    options: ExampleOptions,
    progress: Callable[[SendResult], None] = lambda result: None,
) -> list[SendResult]:
    """Send the batches and judge each message's result (see ``client``)."""
    return await _client.send_batch(requests, client, options, progress)


@hookimpl
def parse_callback(request: CallbackRequest, options: ExampleOptions) -> list[DeliveryEvent]:
    """Verify and read a signed delivery report (see ``callbacks``)."""
    return _callbacks.parse_callback(request, options)


@hookimpl
async def lookup_status(
    messages: Sequence[SubmittedMessage], client: httpx.AsyncClient, options: ExampleOptions
) -> list[DeliveryEvent]:
    """Ask ``GET /v1/messages/{id}`` about each message (see ``lookup``)."""
    return await _lookup.lookup_status(messages, client, options)


@hookimpl
def sandbox_app(settings: SandboxSettings) -> Any:
    """A fake of the vendor that also signs and pushes reports (see ``sandbox``)."""
    from smsgate_example_provider.sandbox import create_app

    return create_app(settings)
