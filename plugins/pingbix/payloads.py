"""``build_payload`` for Pingbix: one ``/SMSApi/send`` request per message, no I/O.

Pingbix's ``quick`` send takes one text for a list of numbers, so messages with different
texts (every personalised CleverTap message) need a request each; one request per message
also gives each message its own transaction id to match delivery reports against.

Requests are ``multipart/form-data`` POSTs, as Pingbix's own clients send them. The fields
come in a fixed order and the multipart boundary is derived from the fields, so the same
messages always give byte-identical requests: cassettes match on the body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from smsgate import BuiltPayload, Encoding, OutboundMessage, SendResult, VendorRequest
from smsgate.sms.encoding import detect_encoding
from smsgate_pingbix import api
from smsgate_pingbix.options import PingbixOptions
from smsgate_pingbix.templates import TemplateError, render_template

__all__ = ["CONTENT_TYPE", "build_payload", "build_request"]

CONTENT_TYPE = "multipart/form-data"

# Keys of CleverTap extras taken as a per-campaign sender id, compared without case, "_", "-".
_SENDERID_KEYS = frozenset({"senderid"})


class _Refused(Exception):
    def __init__(self, reason: str, code: str) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class _Masked(str):
    """A str that hides its value from ``repr``: a logged request shows no password."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


def build_payload(messages: Sequence[OutboundMessage], options: PingbixOptions) -> BuiltPayload:
    """One request per sendable message; the others refused with a CleverTap code."""
    requests: list[VendorRequest] = []
    refused: list[SendResult] = []
    for message in messages:
        try:
            requests.append(build_request(message, options))
        except _Refused as refusal:
            refused.append(SendResult.failed(message.id, refusal.reason, code=refusal.code))
    return BuiltPayload(requests=tuple(requests), refused=tuple(refused))


def build_request(message: OutboundMessage, options: PingbixOptions) -> VendorRequest:
    """The ``/SMSApi/send`` request for ``message``.

    Raises ``_Refused`` when the message cannot be sent as it is.
    """
    text, encoding = _text(message, options)
    fields: dict[str, str] = {
        api.Param.USERID: options.userid,
        api.Param.PASSWORD: _Masked(options.password.get_secret_value()),
        api.Param.SEND_METHOD: api.SEND_METHOD_QUICK,
        api.Param.MOBILE: _mobile(message.to),
        api.Param.MSG: text,
        api.Param.SENDERID: _senderid(message, options),
        api.Param.MSG_TYPE: _msg_type(encoding, options),
    }
    if options.dlt_entity_id:
        fields[api.Param.DLT_ENTITY_ID] = options.dlt_entity_id
    if message.template_id:
        fields[api.Param.DLT_TEMPLATE_ID] = message.template_id
    fields[api.Param.OUTPUT] = api.OUTPUT_JSON
    return VendorRequest(
        method="POST",
        url=options.base_url + api.SEND_PATH,
        message_ids=(message.id,),
        headers={"Content-Type": f"{CONTENT_TYPE}; boundary={_boundary(fields)}"},
        files={name: (None, value) for name, value in fields.items()},
    )


def _text(message: OutboundMessage, options: PingbixOptions) -> tuple[str, Encoding]:
    if message.body is not None and message.body.strip():
        return message.body, message.encoding
    if not message.template_id:
        raise _Refused("the record has neither a body nor a DLT template id", "900")
    try:
        text = render_template(
            options.templates,
            message.template_id,
            message.template_variables,
            sent_as=message.template_variables_text,
        )
    except TemplateError as exc:
        raise _Refused(exc.reason, exc.code) from None
    return text, detect_encoding(text)


def _mobile(to: str) -> str:
    digits = to.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise _Refused(f"the number {to!r} is not in E.164 form", "910")
    return digits


def _senderid(message: OutboundMessage, options: PingbixOptions) -> str:
    for key, value in message.extras.items():
        if key.lower().replace("_", "").replace("-", "") in _SENDERID_KEYS and value.strip():
            return value.strip()
    return options.senderid


def _msg_type(encoding: Encoding, options: PingbixOptions) -> str:
    if options.msg_type == "auto":
        return api.MSG_TYPE_UNICODE if encoding is Encoding.UCS2 else api.MSG_TYPE_TEXT
    return api.MSG_TYPE_UNICODE if options.msg_type == "unicode" else api.MSG_TYPE_TEXT


def _boundary(fields: dict[str, str]) -> str:
    # The credentials stay out of the hash: a digest of a password is still a lead to it.
    public = [(name, value) for name, value in fields.items() if name not in api.CREDENTIAL_PARAMS]
    digest = hashlib.sha256(json.dumps(public, ensure_ascii=False).encode()).hexdigest()
    return f"smsgate-{digest[:32]}"
