"""smsgate: an SMS gateway between CleverTap and the SMS vendors of your choice.

Plugin authors need only what this module exports::

    from smsgate import hookimpl, SendResult, DeliveryEvent
"""

from smsgate.errors import CallbackError, SmsgateError
from smsgate.hookspecs import hookimpl
from smsgate.types import (
    BuiltPayload,
    CallbackRequest,
    DeliveryEvent,
    Encoding,
    EventKind,
    OutboundMessage,
    Outcome,
    SandboxSettings,
    SendResult,
    SubmittedMessage,
    VendorRequest,
)

__all__ = [
    "BuiltPayload",
    "CallbackError",
    "CallbackRequest",
    "DeliveryEvent",
    "Encoding",
    "EventKind",
    "OutboundMessage",
    "Outcome",
    "SandboxSettings",
    "SendResult",
    "SmsgateError",
    "SubmittedMessage",
    "VendorRequest",
    "hookimpl",
]
