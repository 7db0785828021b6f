"""Hook specifications: the contract between smsgate and a vendor plugin.

A plugin is a module (or object) with functions marked ``@smsgate.hookimpl`` whose names
match the specs below, registered under its entry-point name in the ``smsgate`` group::

    [project.entry-points.smsgate]
    myvendor = "smsgate_myvendor"

For each call smsgate asks exactly one plugin: the one configured for the nickname in hand.
Every hook is called with keyword arguments; an implementation may accept fewer arguments
than the spec lists (pluggy's opt-in arguments), so specs can grow without breaking plugins.
Raising from a hook is treated as a bug in the plugin: the host logs it and keeps going,
and never lets a plugin's exception reach CleverTap or a vendor as a 500.
"""

# Specs are signatures and documentation only; pluggy never runs their bodies.
# mypy: disable-error-code="empty-body"

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

    from smsgate.types import (
        BuiltPayload,
        CallbackRequest,
        DeliveryEvent,
        OutboundMessage,
        SandboxSettings,
        SendResult,
        SubmittedMessage,
        VendorRequest,
    )

#: The pluggy project name and the entry-point group of plugins.
PROJECT_NAME = "smsgate"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def options_model() -> type[BaseModel]:
    """Declare the model of this plugin's ``[providers.<nickname>.options]`` table.

    Return a pydantic model class with ``model_config = ConfigDict(extra="forbid")`` so that a
    mistyped key is an error. Secrets should be typed ``SecretStr``: smsgate resolves
    ``{ env = "VAR" }`` values before validation, so plugins never read the environment.

    Called once per nickname when the configuration is loaded. A ``ValidationError`` from the
    model is reported to the operator with the file, the key and the fix.

    :returns: the options model class.
    """


@hookspec(firstresult=True)
def build_payload(messages: Sequence[OutboundMessage], options: BaseModel) -> BuiltPayload:
    """Turn normalised messages into the vendor's HTTP requests, without performing them.

    Called by a dispatch worker with a group of messages for one nickname. Must be pure: no
    I/O, no clock, no randomness, so that the same messages always give the same requests
    (cassettes match on the request body).

    A message that cannot be sent as it is (a template without text, say) goes into
    :attr:`BuiltPayload.refused` as :meth:`SendResult.failed` with a CleverTap code; every
    other message must appear in exactly one request's ``message_ids``.

    :param messages: the messages to send, all for this plugin's nickname.
    :param options: this nickname's validated options (an instance of :func:`options_model`).
    :returns: the requests to perform and the messages refused up front.

    Raising marks the whole group for retry and is logged as a plugin bug.
    """


@hookspec(firstresult=True)
async def send_batch(
    requests: Sequence[VendorRequest],
    client: httpx.AsyncClient,
    options: BaseModel,
    progress: Callable[[SendResult], None],
) -> Sequence[SendResult]:
    """Perform the requests built by :func:`build_payload` and judge the vendor's answers.

    Use ``client`` for every request: it is shared, pooled and closed by the host, and it is
    where tests record cassettes. Judge each answer from what the vendor means, not from the
    HTTP status alone (many vendors report errors with 200), and return exactly one
    :class:`SendResult` per message id in the requests:

    - :meth:`SendResult.submitted` with the vendor's id when it accepted the message;
    - :meth:`SendResult.retry` when the request certainly did not take effect: connection
      refused, DNS failure, 429, 502, 503 (pass ``retry_after`` from ``Retry-After``);
    - :meth:`SendResult.failed` with a CleverTap code for a definite refusal (other 4xx,
      invalid number, DLT rejection); set ``vendor_unusable`` for bad credentials or no
      balance, which stop the whole vendor;
    - :meth:`SendResult.unknown` when the request may have reached the vendor but no
      answer came back (read timeout, 500): smsgate will never resend it blindly.

    :param requests: the requests to perform, in order.
    :param client: the shared HTTP client.
    :param options: this nickname's validated options.
    :param progress: optional (leave it out of your signature to ignore it): call it with
        each result as soon as it is known (:func:`smsgate.http.send_each` does). A batch
        still running after ``[gateway.dispatch] send_timeout``, or when the gateway stops,
        is cancelled; what ``progress`` was told then stands, and only the other messages
        become unknown. Your code sees the cancellation as :class:`asyncio.CancelledError`
        wherever it awaits: a request that had not started yet may be reported there as
        :meth:`SendResult.retry`, since it certainly did not leave (re-raise the error
        afterwards).
    :returns: one result per message.

    Raising marks every message of the batch unknown (the requests may have left), except
    those reported through ``progress``, and is logged as a plugin bug.
    """


@hookspec(firstresult=True)
def parse_callback(request: CallbackRequest, options: BaseModel) -> Sequence[DeliveryEvent]:
    """Turn a vendor's delivery report request into delivery events.

    Called for every request to ``/callbacks/{nickname}/{callback_token}`` after the token
    has been checked. One request may carry several events; return them all. Verify a
    signature here if the vendor signs its reports (over ``request.body``, the raw bytes).

    :param request: the vendor's request: method, headers, query and raw body.
    :param options: this nickname's validated options.
    :returns: the events, possibly none (a keep-alive ping, say).

    Raise :class:`smsgate.errors.CallbackError` with a reason for a request you cannot
    parse or whose signature is wrong; the vendor gets a 400 with that reason. Any other
    exception is a plugin bug, answered with a 400 and logged.
    """


@hookspec(firstresult=True)
def template_text(
    template_id: str,
    variables: Sequence[str],
    variables_text: str | None,
    options: BaseModel,
) -> str | None:
    """The text a message made of a template id and variables, without a body, will carry.

    Optional. Called when CleverTap's record has ``$$TemplateID`` but no ``$$Body``, as it
    is stored, so that its encoding and segment count (what a segment-based ``rate_limit``
    spends, what operators see) are those of the text the vendor will deliver rather than
    one GSM-7 segment. Must be quick and do no I/O: it runs for each such record of a
    CleverTap request, before the 202.

    :param template_id: the DLT template id (``$$TemplateID``).
    :param variables: the variables in order, as :attr:`OutboundMessage.template_variables`.
    :param variables_text: ``$$TemplateVariables`` as CleverTap sent it.
    :param options: this nickname's validated options.
    :returns: the filled-in text, or ``None`` when the plugin cannot tell (the record is
        still accepted; ``build_payload`` decides later whether it can be sent).

    Raising is logged as a plugin bug, and the record counts as one GSM-7 segment.
    """


@hookspec(firstresult=True)
async def lookup_status(
    messages: Sequence[SubmittedMessage],
    client: httpx.AsyncClient,
    options: BaseModel,
) -> Sequence[DeliveryEvent]:
    """Ask the vendor what became of messages whose final delivery report has not come.

    Optional: a plugin whose vendor offers no status lookup simply does not implement it.
    Called by the delivery workers for messages submitted at least ``[gateway.delivery]
    lookup_after`` seconds ago that are still without a final report, and again at doubling
    intervals until the message is older than its validity plus ``lookup_grace``. What comes
    back is handled exactly like a report the vendor pushed to the callback URL (matched by
    ``vendor_id``, and by ``to`` when one vendor id covers several numbers).

    Use ``client`` for every request. Return events only for what the vendor actually knows:
    nothing for a message it has no news about (that is not a failure), a ``BUFFERED`` event
    for one it still holds, ``DELIVERED`` or ``FAILED`` (with a CleverTap code) for a final
    state. Never invent a failure because an answer is missing or unreadable.

    :param messages: the messages to look up, all sent through this plugin's nickname.
    :param client: the shared HTTP client.
    :param options: this nickname's validated options.
    :returns: the events learned, in any order; possibly none.

    Raising is logged as a plugin bug; the messages are simply looked up again later.
    """


@hookspec(firstresult=True)
def sandbox_app(settings: SandboxSettings) -> Any:
    """Return a fake of this plugin's vendor, for demos and tests, as an ASGI application.

    ``smsgate sandbox NAME`` serves what this returns with uvicorn. The fake should answer
    like the real API (its paths, its validation, its answer shapes, errors included), so
    that cassettes can be recorded against it, and should push delivery reports for what it
    accepted to :attr:`SandboxSettings.dlr_url` after :attr:`SandboxSettings.delay`, with the
    outcome mix of :attr:`SandboxSettings.outcomes`. It must never need the network beyond
    ``dlr_url``. Optional: a plugin without a sandbox simply does not implement it.

    Stops at first non-None result.

    :param settings: the delivery report URL, outcome mix, delay, seed and the plugin's own
        sandbox options.
    :returns: an ASGI application (a Starlette app, say).
    """
