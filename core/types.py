"""The normalised vocabulary that plugins speak.

A plugin receives :class:`OutboundMessage` objects, turns them into :class:`VendorRequest`
objects (``build_payload``), performs those and answers with one :class:`SendResult` per
message (``send_batch``), and turns a vendor's :class:`CallbackRequest` into
:class:`DeliveryEvent` objects (``parse_callback``); it may also look up, for
:class:`SubmittedMessage` objects whose report never came, what the vendor knows
(``lookup_status``). A plugin may also ship a fake of its
vendor, configured by :class:`SandboxSettings` (``sandbox_app``). Nothing else from smsgate is
needed to write a plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from smsgate.sms.encoding import Encoding

__all__ = [
    "BuiltPayload",
    "CallbackRequest",
    "DeliveryEvent",
    "Encoding",
    "EventKind",
    "OutboundMessage",
    "Outcome",
    "SandboxSettings",
    "SendResult",
    "SubmittedMessage",
    "VendorRequest",
]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One SMS that CleverTap handed us, ready for a vendor.

    :param id: smsgate's own key for the message; results refer to it.
    :param message_id: CleverTap's opaque ``$$MessageID``; plugins should not send it to a
        vendor that limits reference lengths, and must never alter it.
    :param to: the recipient in E.164, with ``+``.
    :param body: the text; ``None`` when CleverTap sent only a template id.
    :param template_id: the DLT template id (``$$TemplateID``), if any.
    :param template_variables: the variables in order of occurrence, parsed from
        ``$$TemplateVariables`` (a JSON array, or a ``|``- or ``,``-separated string).
    :param template_variables_text: ``$$TemplateVariables`` as CleverTap sent it. Its format
        is not documented, so the split above is a guess: a plugin that knows the number
        of slots can do better (one slot and ``"1,500"`` is one variable, not two).
    :param campaign_id: CleverTap's campaign id, if any.
    :param extras: every other key CleverTap sent, as strings (a per-campaign ``senderid``).
    :param encoding: GSM-7 or UCS-2, from the body.
    :param segments: how many SMS parts the body needs.
    """

    id: int
    message_id: str
    to: str
    body: str | None = None
    template_id: str | None = None
    template_variables: tuple[str, ...] = ()
    template_variables_text: str | None = None
    campaign_id: str | None = None
    extras: Mapping[str, str] = field(default_factory=dict)
    encoding: Encoding = Encoding.GSM7
    segments: int = 1


@dataclass(frozen=True, slots=True)
class VendorRequest:
    """One HTTP request to a vendor, described but not performed.

    The fields mirror the keyword arguments of :meth:`httpx.AsyncClient.request`.
    ``message_ids`` names the :attr:`OutboundMessage.id` values this request carries, so that
    the host can account for every message.
    """

    method: str
    url: str
    message_ids: tuple[int, ...]
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[None, str]] | None = None
    json: Any = None

    def __post_init__(self) -> None:
        # Checked here, in the plugin's own call, where a mistake is a plugin bug and the
        # batch waits for a later try; in the dispatcher it would strand claimed messages.
        ids = self.message_ids
        if not isinstance(ids, Sequence) or isinstance(ids, str) or not ids:
            raise TypeError(
                "VendorRequest.message_ids must name the messages it carries (a tuple of "
                f"OutboundMessage ids), not {ids!r}"[:200]
            )
        if any(type(id_) is not int for id_ in ids):
            raise TypeError(
                f"VendorRequest.message_ids must be OutboundMessage ids, not {ids!r}"[:200]
            )
        object.__setattr__(self, "message_ids", tuple(ids))


@dataclass(frozen=True, slots=True)
class BuiltPayload:
    """What ``build_payload`` returns: requests to perform, and messages refused up front.

    A single :class:`VendorRequest` given as ``requests`` is taken as a list of one;
    anything but requests and results raises ``TypeError`` in the plugin's own call.
    """

    requests: Sequence[VendorRequest] = ()
    refused: Sequence[SendResult] = ()

    def __post_init__(self) -> None:
        requests: object = self.requests
        if isinstance(requests, VendorRequest):
            requests = (requests,)
        object.__setattr__(self, "requests", _items("requests", requests, VendorRequest))
        object.__setattr__(self, "refused", _items("refused", self.refused, SendResult))


class Outcome(StrEnum):
    """How a vendor treated one message."""

    #: The vendor accepted it; ``vendor_id`` identifies it in later reports.
    SUBMITTED = "submitted"
    #: It certainly did not reach the vendor (refused connection, 429, 502/503): try again.
    RETRY = "retry"
    #: The vendor refused it for good; ``code`` says why in CleverTap's terms.
    FAILED = "failed"
    #: It may or may not have reached the vendor (read timeout, 500): never resend blindly.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The fate of one message after ``send_batch``.

    Build these with the class methods: :meth:`submitted`, :meth:`retry`, :meth:`failed`,
    :meth:`unknown`.

    :param message: the :attr:`OutboundMessage.id` this result is about.
    :param outcome: one of :class:`Outcome` (its text, ``"submitted"``, is taken too).
    :param vendor_id: the vendor's handle for the message (submitted only); a number is
        kept as its text, as the vendor's reports will carry it. A submitted result without
        one becomes :attr:`Outcome.UNKNOWN`: no report could be matched to it.
    :param retry_after: seconds the vendor asked us to wait (``Retry-After``), if any.
    :param code: CleverTap failure code "900" to "920" (failed only).
    :param reason: human-readable reason, shown to operators and sent to CleverTap.
    :param vendor_unusable: the vendor itself refuses to work (bad credentials, no balance):
        the host opens the circuit and may move messages to the fallback nickname.

    Anything else of the wrong type raises ``TypeError`` or ``ValueError`` in the plugin's
    own call, which the host treats as a plugin bug.
    """

    message: int
    outcome: Outcome
    vendor_id: str | None = None
    retry_after: float | None = None
    code: str | None = None
    reason: str | None = None
    vendor_unusable: bool = False

    def __post_init__(self) -> None:
        # A wrong type here would surface later, in the dispatcher, as a resend of a message
        # the vendor took ("submitted" is not Outcome.SUBMITTED to an identity test) or as a
        # crash that loses the vendor id. What is plainly meant is taken as meant (the
        # outcome's text, a numeric vendor id or code); anything else fails in the plugin's
        # own call, where the host treats it as a plugin bug.
        set_field = object.__setattr__
        set_field(self, "outcome", Outcome(self.outcome))
        if type(self.message) is not int:
            raise TypeError(f"SendResult.message must be an int, not {self.message!r}")
        for name in ("vendor_id", "code"):
            value: object = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                set_field(self, name, str(value))
            elif value is not None and not isinstance(value, str):
                raise TypeError(f"SendResult.{name} must be text, not {value!r}")
        wait: object = self.retry_after
        if wait is not None:
            if isinstance(wait, bool) or not isinstance(wait, int | float | str):
                raise TypeError(f"SendResult.retry_after must be seconds, not {wait!r}")
            set_field(self, "retry_after", float(wait))
        if self.reason is not None and not isinstance(self.reason, str):
            set_field(self, "reason", str(self.reason))
        if self.outcome is Outcome.SUBMITTED and not (self.vendor_id or "").strip():
            # Taken, but no report can ever be matched to it by id: its fate is unknown.
            set_field(self, "outcome", Outcome.UNKNOWN)
            set_field(self, "vendor_id", None)
            set_field(self, "reason", self.reason or "the vendor took it without giving an id")

    @classmethod
    def submitted(cls, message: int, vendor_id: str) -> SendResult:
        """The vendor accepted ``message`` under ``vendor_id``."""
        return cls(message, Outcome.SUBMITTED, vendor_id=vendor_id)

    @classmethod
    def retry(
        cls,
        message: int,
        reason: str,
        *,
        retry_after: float | None = None,
        vendor_unusable: bool = False,
    ) -> SendResult:
        """``message`` did not reach the vendor; try it again later."""
        return cls(
            message,
            Outcome.RETRY,
            retry_after=retry_after,
            reason=reason,
            vendor_unusable=vendor_unusable,
        )

    @classmethod
    def failed(
        cls, message: int, reason: str, *, code: str = "900", vendor_unusable: bool = False
    ) -> SendResult:
        """The vendor refused ``message`` for good, for CleverTap ``code``."""
        return cls(
            message, Outcome.FAILED, code=code, reason=reason, vendor_unusable=vendor_unusable
        )

    @classmethod
    def unknown(cls, message: int, reason: str) -> SendResult:
        """``message`` may have reached the vendor; its fate must be learned, not guessed."""
        return cls(message, Outcome.UNKNOWN, reason=reason)


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A vendor's HTTP request to ``/callbacks/{nickname}/{token}``, as plugins see it.

    :param method: ``GET`` or ``POST``.
    :param headers: header names in lower case.
    :param query: query parameters; a repeated key keeps its last value. A byte that is
        not UTF-8 arrives as a lone surrogate (Python's ``surrogateescape``); read the body
        the same way, so that the host can keep such a byte as an escape in a raw field
        and refuse it only where it is in a field the report is judged by.
    :param body: the raw body bytes, unparsed (signatures are computed over these).
    :param content_type: the media type without parameters, in lower case.
    """

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str = ""


class EventKind(StrEnum):
    """What a delivery event says happened."""

    #: The vendor or the network holds the message (ENROUTE, ACCEPTD, SENT …); not final.
    BUFFERED = "buffered"
    DELIVERED = "delivered"
    FAILED = "failed"
    CLICKED = "clicked"
    REPLIED = "replied"


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One thing a vendor reported about one message.

    :param vendor_id: the id the vendor gave at submission (:attr:`SendResult.vendor_id`).
    :param kind: one of :class:`EventKind`.
    :param occurred_at: when the vendor says it happened, timezone-aware. For a click or a
        reply give the vendor's own time: two with the same time and content are taken as
        one repeated by the vendor, and relayed to CleverTap once.
    :param to: the recipient in E.164 when the report names it; needed to tell apart
        several numbers sent under one vendor id.
    :param code: CleverTap failure code "900" to "920" (failed only).
    :param description: the vendor's words for the status.
    :param vendor_status: the vendor's status value as sent (``DELIVRD``, ``UNDELIV`` …).
    :param url: the original URL (clicked only). CleverTap needs a URL with every click: a
        click with neither this nor ``short_url`` is kept on the message but not relayed.
    :param short_url: the short URL that was clicked (clicked only).
    :param incoming_text: the reply text (replied only).
    :param to_phone: our number the user replied to (replied only).
    :param raw: the vendor's fields for this event, kept with the event for operators.
    """

    vendor_id: str
    kind: EventKind
    occurred_at: datetime
    to: str | None = None
    code: str | None = None
    description: str | None = None
    vendor_status: str | None = None
    url: str | None = None
    short_url: str | None = None
    incoming_text: str | None = None
    to_phone: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubmittedMessage:
    """A message the vendor accepted and has not reported on for good, for ``lookup_status``.

    :param id: smsgate's own key for the message.
    :param vendor_id: the vendor's id for it (:attr:`SendResult.vendor_id`).
    :param to: the recipient in E.164, with ``+``.
    :param submitted_at: about when the vendor accepted it, timezone-aware.
    """

    id: int
    vendor_id: str
    to: str
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """How ``smsgate sandbox NAME`` asks a plugin to run its fake vendor.

    :param dlr_url: where the fake vendor pushes delivery reports for what it accepted;
        ``None`` sends none.
    :param outcomes: the mix of delivery outcomes, name to weight, e.g.
        ``{"delivered": 0.8, "failed": 0.2}``; weights need not add up to 1. Which names a
        sandbox understands beyond ``delivered`` and ``failed`` is up to the plugin.
    :param delay: seconds between accepting a message and pushing its delivery report.
    :param seed: makes vendor ids and outcomes reproducible; ``None`` for random ones.
    :param options: settings of this plugin's sandbox only (``--option KEY=VALUE``), such
        as the credentials it accepts; each plugin documents its keys.
    """

    dlr_url: str | None = None
    outcomes: Mapping[str, float] = field(default_factory=lambda: {"delivered": 1.0})
    delay: float = 1.0
    seed: int | None = None
    options: Mapping[str, str] = field(default_factory=dict)


def _items(name: str, values: object, kind: type[Any]) -> tuple[Any, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise TypeError(
            f"BuiltPayload.{name} must be a list of {kind.__name__}, not {type(values).__name__}"
        )
    wrong = [value for value in values if not isinstance(value, kind)]
    if wrong:
        raise TypeError(
            f"BuiltPayload.{name} must hold {kind.__name__} objects, not {type(wrong[0]).__name__}"
        )
    return tuple(values)
