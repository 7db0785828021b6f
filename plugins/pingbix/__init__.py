"""Pingbix, the reference vendor plugin.

Registered as ``pingbix`` in the ``smsgate`` entry-point group. The hooks below only
delegate: :mod:`~smsgate_pingbix.payloads` builds requests (pure),
:mod:`~smsgate_pingbix.client` performs and judges them, :mod:`~smsgate_pingbix.callbacks`
reads delivery reports, :mod:`~smsgate_pingbix.lookup` asks for the status of a
transaction whose report never came, :mod:`~smsgate_pingbix.sandbox` is a stand-in for
Pingbix's API. Every Pingbix field name lives in :mod:`smsgate_pingbix.api`,
so that a correction to Pingbix's API is one line.
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
from smsgate_pingbix import callbacks as _callbacks
from smsgate_pingbix import client as _client
from smsgate_pingbix import lookup as _lookup
from smsgate_pingbix import payloads as _payloads
from smsgate_pingbix.options import PingbixOptions
from smsgate_pingbix.templates import TemplateError, render_template

if TYPE_CHECKING:
    import httpx

__all__ = [
    "PingbixOptions",
    "build_payload",
    "lookup_status",
    "options_model",
    "parse_callback",
    "sandbox_app",
    "send_batch",
]


@hookimpl
def options_model() -> type[BaseModel]:
    """Pingbix's options: account, sender and DLT entity, templates, timeouts."""
    return PingbixOptions


@hookimpl
def build_payload(messages: Sequence[OutboundMessage], options: PingbixOptions) -> BuiltPayload:
    """One ``/SMSApi/send`` request per message (see :mod:`smsgate_pingbix.payloads`)."""
    return _payloads.build_payload(messages, options)


@hookimpl
async def send_batch(
    requests: Sequence[VendorRequest],
    client: httpx.AsyncClient,
    options: PingbixOptions,
    progress: Callable[[SendResult], None] = lambda result: None,
) -> list[SendResult]:
    """Send the requests and judge Pingbix's answers (see :mod:`smsgate_pingbix.client`)."""
    return await _client.send_batch(requests, client, options, progress)


@hookimpl
def parse_callback(request: CallbackRequest, options: PingbixOptions) -> list[DeliveryEvent]:
    """Read a delivery report pushed to the DLR URL (see :mod:`smsgate_pingbix.callbacks`)."""
    return _callbacks.parse_callback(request, options)


@hookimpl
def template_text(
    template_id: str,
    variables: Sequence[str],
    variables_text: str | None,
    options: PingbixOptions,
) -> str | None:
    """The template's text from the ``templates`` option, filled in; ``None`` if it cannot be."""
    try:
        return render_template(options.templates, template_id, variables, sent_as=variables_text)
    except TemplateError:
        return None  # build_payload refuses it, with the reason, when it is sent


@hookimpl
async def lookup_status(
    messages: Sequence[SubmittedMessage], client: httpx.AsyncClient, options: PingbixOptions
) -> list[DeliveryEvent]:
    """Ask ``/SMSApi/report/status`` about each transaction (see :mod:`smsgate_pingbix.lookup`)."""
    return await _lookup.lookup_status(messages, client, options)


@hookimpl
def sandbox_app(settings: SandboxSettings) -> Any:
    """A stand-in for Pingbix's API (see :mod:`smsgate_pingbix.sandbox`)."""
    from smsgate_pingbix.sandbox import create_app

    return create_app(settings)
