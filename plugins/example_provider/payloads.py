"""``build_payload`` for Example SMS: messages in batches of JSON, without performing anything.

**What a contributor changes here:** how one normalised message becomes the vendor's message
object (:func:`message_object`), what is refused before sending (:func:`_refusal`), and how
messages are grouped into requests. Keep it pure (no I/O, no clock, no randomness): the same
messages must give equal requests, because cassettes match on the request body.

Up to ``max_batch`` messages go into one ``POST /v1/messages`` with the API key as a bearer
token, in the order given; each carries its smsgate id as ``reference``, which the answer and
the delivery reports echo. A message with text is sent as text (with its DLT template id, the
vendor checks the text against it); one with only a template id and variables lets the vendor
fill its registered template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smsgate import BuiltPayload, Encoding, OutboundMessage, SendResult, VendorRequest
from smsgate_example_provider import api
from smsgate_example_provider.options import ExampleOptions

__all__ = ["build_payload", "message_object"]


class _Masked(str):
    """A str that hides its value from ``repr``: a logged request shows no API key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


def build_payload(messages: Sequence[OutboundMessage], options: ExampleOptions) -> BuiltPayload:
    """Batches of at most ``options.max_batch`` messages; the unsendable ones refused."""
    sendable: list[OutboundMessage] = []
    refused: list[SendResult] = []
    for message in messages:
        refusal = _refusal(message)
        if refusal is None:
            sendable.append(message)
        else:
            refused.append(refusal)
    headers = {
        api.AUTH_HEADER: _Masked(f"{api.AUTH_SCHEME} {options.api_key.get_secret_value()}"),
        "Accept": "application/json",
    }
    requests = [
        VendorRequest(
            method="POST",
            url=options.base_url + api.SEND_PATH,
            message_ids=tuple(message.id for message in batch),
            headers=headers,
            json={api.Send.MESSAGES: [message_object(message, options) for message in batch]},
        )
        for batch in _batches(sendable, options.max_batch)
    ]
    return BuiltPayload(requests=tuple(requests), refused=tuple(refused))


def message_object(message: OutboundMessage, options: ExampleOptions) -> dict[str, Any]:
    """The vendor's JSON object for one message."""
    sender = _sender(message) or options.sender
    item: dict[str, Any] = {
        api.Send.REFERENCE: str(message.id),
        api.Send.TO: message.to,
        api.Send.FROM: sender,
    }
    if _has_text(message):
        item[api.Send.TEXT] = message.body
        item[api.Send.ENCODING] = (
            api.ENCODING_UCS2 if message.encoding is Encoding.UCS2 else api.ENCODING_GSM7
        )
    else:
        item[api.Send.VARIABLES] = list(message.template_variables)
    if message.template_id:
        item[api.Send.TEMPLATE_ID] = message.template_id
    if options.dlt_entity_id:
        item[api.Send.ENTITY_ID] = options.dlt_entity_id
    return item


def _refusal(message: OutboundMessage) -> SendResult | None:
    digits = message.to.removeprefix("+")
    if not message.to.startswith("+") or not (digits.isascii() and digits.isdigit()):
        return SendResult.failed(message.id, "the number is not in E.164 form", code="910")
    if not _has_text(message) and not message.template_id:
        return SendResult.failed(
            message.id, "the record has neither a body nor a DLT template id", code="900"
        )
    return None


def _has_text(message: OutboundMessage) -> bool:
    return message.body is not None and bool(message.body.strip())


def _sender(message: OutboundMessage) -> str | None:
    # CleverTap passes a per-campaign sender id as an extra key; the spellings vary.
    for key, value in message.extras.items():
        if key.lower().replace("_", "").replace("-", "") == "senderid" and value.strip():
            return value.strip()
    return None


def _batches(messages: list[OutboundMessage], size: int) -> list[list[OutboundMessage]]:
    return [messages[start : start + size] for start in range(0, len(messages), size)]
