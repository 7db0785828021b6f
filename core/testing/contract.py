"""The contract every vendor plugin keeps, as a test class to subclass.

A plugin's test suite runs the contract against the plugin by subclassing
:class:`PluginContract` in a test module and providing four fixtures::

    import httpx
    import pytest

    from smsgate.testing.contract import PluginContract


    class TestMyVendorContract(PluginContract):
        @pytest.fixture
        def plugin_name(self):
            return "myvendor"  # the entry-point name

        @pytest.fixture
        def options(self):
            return MyVendorOptions(api_key="test-key", ...)

        @pytest.fixture
        def accepted_response(self):
            # The vendor's answer to a send request when it accepts every message in it.
            return lambda request: httpx.Response(200, json={...})

        @pytest.fixture
        def sample_callback(self, options):
            # A valid delivery report as the vendor sends it (signed, if it signs).
            return CallbackRequest(method="POST", headers={...}, query={}, body=b"...")

``sample_messages`` (the messages every test sends) and ``callback_envelope`` (how the vendor
wraps a report body into a request: its method, content type and signature) have defaults
that a plugin may override.

What is checked, through smsgate's own plugin loading and typed facade (the way the gateway
calls a plugin):

- the plugin is installed under its entry point, loads, and implements the required hooks;
- its options model rejects unknown keys, types its secrets ``SecretStr``, and never shows
  a secret in a ``repr``;
- ``build_payload`` is pure and deterministic (equal messages give equal requests, without
  touching the network), keeps unicode text and the DLT template id, and accounts for every
  message exactly once: in one request, or refused with a CleverTap code;
- ``send_batch`` returns exactly one result per message and classifies every kind of answer
  into the right outcome: accepted, 400, 401/403, 429 with and without ``Retry-After``,
  502/503, 504 and 500, an unreadable 2xx, refused connections, connect and read timeouts and a
  dropped connection (faults are simulated with :class:`httpx.MockTransport`; vendor
  traffic itself belongs in cassettes), and tells ``progress``, if it reports progress, only
  what it returns;
- ``parse_callback`` gives the same events for a duplicate report, and answers garbage and
  empty requests with :class:`~smsgate.errors.CallbackError` (or no events), never with
  another exception;
- ``lookup_status``, when implemented, learns nothing from a fault and never raises;
- ``template_text``, when implemented, gives a template-only message the text its request
  carries;
- no secret of the options appears in a request's ``repr``, a result's reason, a
  ``CallbackError`` or a log line, even when the vendor's error answer quotes the request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError

from smsgate.delivery.reports import CLEVERTAP_CODE, secrets_of
from smsgate.errors import CallbackError
from smsgate.hookspecs import PROJECT_NAME
from smsgate.host.redaction import redact_logs
from smsgate.http import httpx_arguments
from smsgate.plugins import VendorPlugin, load_plugins
from smsgate.types import (
    BuiltPayload,
    CallbackRequest,
    DeliveryEvent,
    Encoding,
    EventKind,
    OutboundMessage,
    Outcome,
    SendResult,
    SubmittedMessage,
    VendorRequest,
)

__all__ = [
    "FAULTS",
    "GARBAGE_BODIES",
    "REQUIRED_HOOKS",
    "Fault",
    "PluginContract",
    "Responder",
    "default_messages",
    "render",
]

#: Turns the request a plugin made into the vendor's answer (or raises a transport error).
Responder = Callable[[httpx.Request], httpx.Response]
#: Wraps a report body into the request the vendor would make with it.
Envelope = Callable[[bytes], CallbackRequest]

#: The hooks without which a plugin cannot serve a nickname.
REQUIRED_HOOKS = ("options_model", "build_payload", "send_batch", "parse_callback")

# Option names that hold credentials; such options must be typed SecretStr.
_SECRET_NAME_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey", "auth")
_DLT_TEMPLATE_ID = "1207161234567890123"


def default_messages() -> list[OutboundMessage]:
    """The messages every contract test sends unless ``sample_messages`` is overridden."""
    return [
        OutboundMessage(id=1, message_id="ct-1.", to="+919876543210", body="Your code is 4821"),
        OutboundMessage(
            id=2,
            message_id="ct-2.",
            to="+919876543211",
            body="आपका कोड 4821 है ✓ 😀",
            encoding=Encoding.UCS2,
        ),
        OutboundMessage(
            id=3,
            message_id="ct-3.",
            to="+919876543212",
            body="Your OTP is 4821. It is valid for 10 minutes.",
            template_id=_DLT_TEMPLATE_ID,
            template_variables=("4821", "10"),
            campaign_id="1700000000",
            extras={"wzrk_id": "1700000000_20261125"},
        ),
        OutboundMessage(
            id=4,
            message_id="ct-4.",
            to="+919876543213",
            template_id=_DLT_TEMPLATE_ID,
            template_variables=("1234", "5"),
        ),
    ]


def _awkward_messages() -> list[OutboundMessage]:
    """Messages a careless plugin trips over; each must be sent or refused, never raise."""
    texts: list[dict[str, Any]] = [
        {"body": ""},
        {"body": "   "},
        {"body": None},
        {"body": "x" * 2000, "segments": 13},
        {"body": "line one\r\nline two\ttab \x00 nul \\ backslash \"quote\" 'apos' {#var#} %s"},
        {"body": "😀" * 80, "encoding": Encoding.UCS2, "segments": 3},
        {"to": "919876543210"},
        {"to": "+91 98765 43210"},
        {"to": "+"},
        {"template_variables": ("a|b", "c,d", ""), "template_id": "1207000000000000001"},
        {"body": None, "template_id": "1207000000000000002"},
        {"extras": {"senderid": "", "Sender-ID": "   ", "": "empty key", "x" * 200: "long"}},
    ]
    messages = []
    for offset, fields in enumerate(texts):
        values: dict[str, Any] = {"to": "+919876543210", "body": "hello"}
        values.update(fields)
        messages.append(
            OutboundMessage(id=100 + offset, message_id=f"ct-{100 + offset}.", **values)
        )
    return messages


@dataclasses.dataclass(frozen=True)
class Fault:
    """One kind of vendor answer, and what each message's result must then be.

    :param respond: answers (or fails) the request the plugin made.
    :param outcomes: the outcomes allowed for every message of the request.
    :param unusable: whether ``vendor_unusable`` must be set (``None``: either).
    :param retry_after: the ``retry_after`` every result must carry, when not ``None``.
    """

    name: str
    respond: Responder
    outcomes: frozenset[Outcome]
    unusable: bool | None = False
    retry_after: float | None = None


def _echo(request: httpx.Request) -> str:
    # Vendors quote what they were sent in their errors: the plugin must scrub it.
    headers = " ".join(f"{name}: {value}" for name, value in request.headers.items())
    return f"{request.method} {request.url} {headers} {request.content.decode(errors='replace')}"


def _answer(status: int, **headers: str) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "simulated", "message": _echo(request)}, "status": "error"}
        return httpx.Response(status, json=body, headers=headers)

    return respond


def _unreadable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text=f"<html><body>Bad gateway {_echo(request)}</body></html>")


def _raising(error: type[httpx.TransportError]) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response:
        raise error(f"simulated {error.__name__} for {request.url}", request=request)

    return respond


_RETRY = frozenset({Outcome.RETRY})
_UNKNOWN = frozenset({Outcome.UNKNOWN})

#: The faults ``send_batch`` must classify, beyond the vendor accepting everything.
FAULTS: tuple[Fault, ...] = (
    Fault("http-400", _answer(400), frozenset({Outcome.FAILED})),
    Fault("http-401", _answer(401), frozenset({Outcome.RETRY, Outcome.FAILED}), unusable=True),
    Fault("http-403", _answer(403), frozenset({Outcome.RETRY, Outcome.FAILED}), unusable=True),
    Fault("http-429-retry-after", _answer(429, **{"Retry-After": "7"}), _RETRY, retry_after=7),
    Fault("http-429", _answer(429), _RETRY),
    Fault("http-502", _answer(502), _RETRY),
    Fault("http-503-retry-after", _answer(503, **{"Retry-After": "3"}), _RETRY, retry_after=3),
    Fault("http-504", _answer(504), _UNKNOWN),
    Fault("http-500", _answer(500), _UNKNOWN),
    Fault("http-200-unreadable", _unreadable, _UNKNOWN),
    Fault("connection-refused", _raising(httpx.ConnectError), _RETRY),
    Fault("connect-timeout", _raising(httpx.ConnectTimeout), _RETRY),
    Fault("read-timeout", _raising(httpx.ReadTimeout), _UNKNOWN),
    Fault("connection-dropped", _raising(httpx.RemoteProtocolError), _UNKNOWN),
)

# The faults a status lookup must shrug off (it has no outcome classes to check).
_LOOKUP_FAULTS = frozenset(
    {"http-401", "http-429", "http-500", "http-503-retry-after", "http-200-unreadable"}
    | {"connection-refused", "read-timeout"}
)

#: Report bodies no plugin can take for a delivery report, wrapped by ``callback_envelope``.
GARBAGE_BODIES: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "binary": bytes(range(256)),
    "invalid-utf8": b"\xff\xfe\xfd\xfc",
    "prose": b"hello, this is not a delivery report",
    "truncated-json": b'{"status": "deliv',
    "json-null": b"null",
    "json-number": b"42",
    "json-string": b'"delivered"',
    "json-numbers": b"[1, 2, 3]",
    "json-empty-object": b"{}",
    "json-wrong-types": b'{"id": [], "status": {}, "data": 7, "type": [], "to": null}',
    "json-deep-nesting": b"[" * 100_000,
    "form-junk": b"a=1&b=%ZZ&&=&%",
}


def render(request: VendorRequest) -> bytes:
    """The bytes httpx would send for ``request``: request line, headers and body."""
    built = httpx.Request(**httpx_arguments(request))
    head = f"{built.method} {built.url}\r\n".encode()
    head += b"".join(name + b": " + value + b"\r\n" for name, value in built.headers.raw)
    return head + b"\r\n" + built.read()


def _spellings(text: str) -> list[bytes]:
    """The ways a request may carry ``text``: raw, JSON-escaped, URL-encoded, UCS-2 hex."""
    ucs2 = text.encode("utf-16-be").hex()
    return [
        text.encode(),
        json.dumps(text)[1:-1].encode(),
        quote_plus(text).encode(),
        quote(text).encode(),
        ucs2.encode(),
        ucs2.upper().encode(),
    ]


def _send(
    plugin: VendorPlugin, payload: BuiltPayload, options: BaseModel, respond: Responder
) -> list[SendResult]:
    reported: list[SendResult] = []

    async def run() -> list[SendResult]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
            return await plugin.send_batch(payload.requests, client, options, reported.append)

    results = asyncio.run(run())
    # A plugin need not report progress; one that does must report what it then returns.
    told = [result.message for result in reported]
    assert len(told) == len(set(told)), f"progress was told twice about a message: {told}"
    assert all(result in results for result in reported), (
        f"progress was told {reported}, send_batch returned {results}"
    )
    return results


def _carried(payload: BuiltPayload) -> list[int]:
    return [message for request in payload.requests for message in request.message_ids]


def _assert_hidden(secrets: Sequence[str], **texts: str) -> None:
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret of the options appears in {where}"


def _assert_valid_failure(result: SendResult) -> None:
    assert result.code is not None and CLEVERTAP_CODE.fullmatch(result.code), (
        f"message {result.message} failed without a CleverTap code (900 to 920, no 911): "
        f"{result.code!r}"
    )
    assert result.reason, f"message {result.message} failed without a reason"


def _is_secret_type(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(_is_secret_type(arg) for arg in typing.get_args(annotation))


class PluginContract:
    """The contract suite: subclass it as ``Test<Vendor>Contract`` in a plugin's tests.

    Required fixtures: ``plugin_name``, ``options``, ``accepted_response`` and
    ``sample_callback`` (see the module docstring). Optional: ``sample_messages`` and
    ``callback_envelope``.
    """

    # --- What the plugin's test class provides ------------------------------------------------

    @pytest.fixture
    def plugin_name(self) -> str:
        """The plugin's entry-point name in the ``smsgate`` group."""
        self._missing("plugin_name", "the plugin's entry-point name")

    @pytest.fixture
    def options(self) -> BaseModel:
        """Valid options for the plugin, with non-empty secrets (they are looked for)."""
        self._missing("options", "an instance of the plugin's options model")

    @pytest.fixture
    def accepted_response(self) -> Responder:
        """The vendor's answer to a send request when it accepts every message in it."""
        self._missing("accepted_response", "a function from httpx.Request to httpx.Response")

    @pytest.fixture
    def sample_callback(self, options: BaseModel) -> CallbackRequest:
        """One valid delivery report, as the vendor sends it."""
        self._missing("sample_callback", "a CallbackRequest holding a valid delivery report")

    @pytest.fixture
    def sample_messages(self) -> Sequence[OutboundMessage]:
        """The messages the send tests use; they must include unicode and DLT ones."""
        return default_messages()

    @pytest.fixture
    def callback_envelope(self, options: BaseModel) -> Envelope:
        """How the vendor wraps a report body into a request (default: a JSON POST)."""

        def envelope(body: bytes) -> CallbackRequest:
            return CallbackRequest(
                method="POST",
                headers={"content-type": "application/json"},
                query={},
                body=body,
                content_type="application/json",
            )

        return envelope

    # --- Derived fixtures ---------------------------------------------------------------------

    @pytest.fixture
    def plugin(self, plugin_name: str) -> VendorPlugin:
        """The plugin, found through its entry point and wrapped in smsgate's facade."""
        plugins = load_plugins()
        if plugin_name in plugins.failures:
            pytest.fail(f"the plugin does not load: {plugins.failures[plugin_name]}", pytrace=False)
        if plugin_name not in plugins.plugins:
            pytest.fail(
                f"no plugin {plugin_name!r} in the {PROJECT_NAME!r} entry-point group: "
                "install the package (pip install -e .) after declaring the entry point",
                pytrace=False,
            )
        return plugins.plugins[plugin_name]

    @pytest.fixture
    def secrets(self, options: BaseModel) -> list[str]:
        """The secret values in ``options``."""
        return [secret for secret in secrets_of(options) if len(secret) >= 4]

    @pytest.fixture
    def payload(
        self, plugin: VendorPlugin, sample_messages: Sequence[OutboundMessage], options: BaseModel
    ) -> BuiltPayload:
        """What ``build_payload`` makes of ``sample_messages``."""
        return plugin.build_payload(sample_messages, options)

    @pytest.fixture
    def logs(self, caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
        """Every log record, as the gateway would write it (URL credentials masked)."""
        redact_logs()
        with caplog.at_level(logging.DEBUG):
            yield caplog

    def _missing(self, name: str, what: str) -> typing.NoReturn:
        pytest.fail(
            f"{type(self).__name__} must define the fixture {name!r}: {what}", pytrace=False
        )

    # --- The plugin and its options -----------------------------------------------------------

    def test_plugin_is_installed_under_its_entry_point(self, plugin_name: str) -> None:
        names = {entry.name for entry in entry_points(group=PROJECT_NAME)}
        assert plugin_name in names

    def test_plugin_implements_the_required_hooks(self, plugin: VendorPlugin) -> None:
        missing = [hook for hook in REQUIRED_HOOKS if hook not in plugin.hooks]
        assert missing == [], f"the plugin does not implement {', '.join(missing)}"

    def test_options_are_an_instance_of_the_options_model(
        self, plugin: VendorPlugin, options: BaseModel
    ) -> None:
        assert isinstance(options, plugin.options_model())

    def test_options_reject_unknown_keys(self, plugin: VendorPlugin, options: BaseModel) -> None:
        model = plugin.options_model()
        given = {**options.model_dump(), "surely_not_an_option": "x"}
        with pytest.raises(ValidationError) as caught:
            model.model_validate(given)
        assert [error["type"] for error in caught.value.errors()] == ["extra_forbidden"]

    def test_credential_options_are_typed_secret(self, plugin: VendorPlugin) -> None:
        model = plugin.options_model()
        plain = [
            name
            for name, field in model.model_fields.items()
            if any(part in name.lower() for part in _SECRET_NAME_PARTS)
            and not _is_secret_type(field.annotation)
        ]
        assert plain == [], f"type these options SecretStr: {', '.join(plain)}"

    def test_options_show_no_secret(self, options: BaseModel, secrets: list[str]) -> None:
        _assert_hidden(
            secrets,
            repr=repr(options),
            str=str(options),
            json=options.model_dump_json(),
            dump=repr(options.model_dump()),
        )

    # --- build_payload ------------------------------------------------------------------------

    def test_build_payload_is_deterministic(
        self,
        plugin: VendorPlugin,
        sample_messages: Sequence[OutboundMessage],
        options: BaseModel,
    ) -> None:
        first = plugin.build_payload(sample_messages, options)
        again = plugin.build_payload(
            [dataclasses.replace(message) for message in sample_messages],
            options.model_copy(deep=True),
        )
        assert first == again
        assert [render(r) for r in first.requests] == [render(r) for r in again.requests]

    def test_build_payload_touches_no_network(
        self,
        plugin: VendorPlugin,
        sample_messages: Sequence[OutboundMessage],
        options: BaseModel,
        payload: BuiltPayload,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        def refuse(*args: object, **kwargs: object) -> typing.NoReturn:
            raise AssertionError("build_payload must not do I/O; send_batch performs requests")

        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        monkeypatch.setattr(socket.socket, "connect", refuse)
        assert plugin.build_payload(sample_messages, options) == payload

    def test_every_message_is_in_one_request_or_refused(
        self, sample_messages: Sequence[OutboundMessage], payload: BuiltPayload
    ) -> None:
        self._assert_accounted(sample_messages, payload)

    def test_unicode_text_reaches_the_vendor_intact(
        self, sample_messages: Sequence[OutboundMessage], payload: BuiltPayload
    ) -> None:
        unicode = [m for m in sample_messages if m.body and not m.body.isascii()]
        assert unicode, "sample_messages must include a message with non-ASCII text"
        for message in unicode:
            assert message.body is not None
            wire = self._wire_of(message, payload)
            assert any(form in wire for form in _spellings(message.body)), (
                f"the text of message {message.id} is not in its request"
            )

    def test_dlt_template_id_reaches_the_vendor(
        self, sample_messages: Sequence[OutboundMessage], payload: BuiltPayload
    ) -> None:
        templated = [m for m in sample_messages if m.template_id and m.body]
        assert templated, "sample_messages must include a message with a body and a template id"
        for message in templated:
            assert message.template_id is not None
            # Not compared inline: pytest would print the request, credentials and all.
            found = message.template_id.encode() in self._wire_of(message, payload)
            assert found, f"the DLT template id of message {message.id} is not in its request"

    def test_the_template_text_counted_at_intake_is_the_text_sent(
        self,
        plugin: VendorPlugin,
        sample_messages: Sequence[OutboundMessage],
        options: BaseModel,
        payload: BuiltPayload,
    ) -> None:
        if "template_text" not in plugin.hooks:
            pytest.skip("the plugin does not implement the optional template_text")
        sent = {request_id for r in payload.requests for request_id in r.message_ids}
        checked = 0
        for message in sample_messages:
            if message.body or not message.template_id or message.id not in sent:
                continue
            text = plugin.template_text(
                message.template_id,
                message.template_variables,
                message.template_variables_text,
                options,
            )
            if text is None:
                continue
            checked += 1
            found = any(form in self._wire_of(message, payload) for form in _spellings(text))
            assert found, (
                f"template_text gave message {message.id} a text its request does not carry: "
                "segments would be counted for another text than the one sent"
            )
        if not checked:
            pytest.skip("no template-only sample message that template_text could fill")

    def test_awkward_messages_are_sent_or_refused_never_raised(
        self, plugin: VendorPlugin, options: BaseModel
    ) -> None:
        messages = _awkward_messages()
        self._assert_accounted(messages, plugin.build_payload(messages, options))

    def test_requests_show_no_secret(self, payload: BuiltPayload, secrets: list[str]) -> None:
        _assert_hidden(secrets, requests=repr(payload), refused=repr(payload.refused))

    # --- send_batch ---------------------------------------------------------------------------

    def test_accepted_messages_are_submitted_with_the_vendors_ids(
        self,
        plugin: VendorPlugin,
        payload: BuiltPayload,
        options: BaseModel,
        accepted_response: Responder,
        secrets: list[str],
        logs: pytest.LogCaptureFixture,
    ) -> None:
        results = _send(plugin, payload, options, accepted_response)
        self._assert_one_result_each(payload, results)
        for result in results:
            assert result.outcome is Outcome.SUBMITTED, result
            assert result.vendor_id, f"message {result.message} was submitted without an id"
        _assert_hidden(secrets, results=repr(results), logs=logs.text)

    @pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
    def test_send_batch_classifies_the_vendors_answer(
        self,
        fault: Fault,
        plugin: VendorPlugin,
        payload: BuiltPayload,
        options: BaseModel,
        secrets: list[str],
        logs: pytest.LogCaptureFixture,
    ) -> None:
        results = _send(plugin, payload, options, fault.respond)
        self._assert_one_result_each(payload, results)
        for result in results:
            assert result.outcome in fault.outcomes, (
                f"{fault.name}: message {result.message} is {result.outcome.value}, expected "
                f"{' or '.join(sorted(o.value for o in fault.outcomes))} ({result.reason})"
            )
            assert result.vendor_id is None or result.outcome is Outcome.SUBMITTED
            if fault.unusable is not None:
                assert result.vendor_unusable is fault.unusable, (
                    f"{fault.name}: vendor_unusable should be {fault.unusable}"
                )
            if fault.retry_after is not None:
                assert result.retry_after == pytest.approx(fault.retry_after), (
                    f"{fault.name}: Retry-After was not passed on as retry_after"
                )
            if result.outcome is Outcome.FAILED:
                _assert_valid_failure(result)
            else:
                assert result.reason, f"{fault.name}: message {result.message} has no reason"
        _assert_hidden(secrets, results=repr(results), logs=logs.text)

    # --- parse_callback -----------------------------------------------------------------------

    def test_a_report_becomes_events(
        self, plugin: VendorPlugin, sample_callback: CallbackRequest, options: BaseModel
    ) -> None:
        events = plugin.parse_callback(sample_callback, options)
        assert events, "the sample report gave no event"
        for event in events:
            self._assert_valid_event(event)

    def test_a_duplicate_report_gives_the_same_events(
        self, plugin: VendorPlugin, sample_callback: CallbackRequest, options: BaseModel
    ) -> None:
        first = plugin.parse_callback(sample_callback, options)
        assert plugin.parse_callback(sample_callback, options) == first

    @pytest.mark.parametrize("name", sorted(GARBAGE_BODIES))
    def test_garbage_is_refused_with_a_callback_error(
        self,
        name: str,
        plugin: VendorPlugin,
        callback_envelope: Envelope,
        options: BaseModel,
        secrets: list[str],
        logs: pytest.LogCaptureFixture,
    ) -> None:
        self._assert_refused(plugin, callback_envelope(GARBAGE_BODIES[name]), options, secrets)
        _assert_hidden(secrets, logs=logs.text)

    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_an_empty_request_is_refused_or_gives_no_events(
        self,
        method: str,
        plugin: VendorPlugin,
        options: BaseModel,
        secrets: list[str],
        logs: pytest.LogCaptureFixture,
    ) -> None:
        empty = CallbackRequest(method=method, headers={}, query={}, body=b"")
        self._assert_refused(plugin, empty, options, secrets)
        _assert_hidden(secrets, logs=logs.text)

    def test_a_truncated_report_is_refused(
        self,
        plugin: VendorPlugin,
        sample_callback: CallbackRequest,
        callback_envelope: Envelope,
        options: BaseModel,
        secrets: list[str],
    ) -> None:
        body = sample_callback.body
        if len(body) < 2:
            pytest.skip("the sample report has no body to truncate")
        self._assert_refused(plugin, callback_envelope(body[: len(body) // 2]), options, secrets)

    # --- lookup_status (optional) -------------------------------------------------------------

    @pytest.mark.parametrize(
        "fault",
        [fault for fault in FAULTS if fault.name in _LOOKUP_FAULTS],
        ids=lambda fault: fault.name,
    )
    def test_lookup_status_learns_nothing_from_a_fault(
        self,
        fault: Fault,
        plugin: VendorPlugin,
        options: BaseModel,
        secrets: list[str],
        logs: pytest.LogCaptureFixture,
    ) -> None:
        if "lookup_status" not in plugin.hooks:
            pytest.skip("the plugin does not implement the optional lookup_status")
        sent = [
            SubmittedMessage(1, "vendor-id-1", "+919876543210", datetime(2026, 1, 1, tzinfo=UTC)),
            SubmittedMessage(2, "vendor-id-2", "+919876543211", datetime(2026, 1, 1, tzinfo=UTC)),
        ]

        async def run() -> list[DeliveryEvent]:
            async with httpx.AsyncClient(transport=httpx.MockTransport(fault.respond)) as client:
                return await plugin.lookup_status(sent, client, options)

        assert asyncio.run(run()) == [], f"{fault.name}: events were invented from a fault"
        _assert_hidden(secrets, logs=logs.text)

    # --- Helpers ------------------------------------------------------------------------------

    def _assert_accounted(self, messages: Sequence[OutboundMessage], payload: BuiltPayload) -> None:
        carried = _carried(payload)
        refused = [result.message for result in payload.refused]
        given = sorted(message.id for message in messages)
        assert sorted(carried + refused) == given, (
            "every message must be in exactly one request or refused: "
            f"carried {sorted(carried)}, refused {sorted(refused)}, given {given}"
        )
        for result in payload.refused:
            assert result.outcome is Outcome.FAILED, f"refused message {result.message} not failed"
            _assert_valid_failure(result)

    def _assert_one_result_each(self, payload: BuiltPayload, results: list[SendResult]) -> None:
        assert sorted(result.message for result in results) == sorted(_carried(payload)), (
            "send_batch must return exactly one result per message carried by the requests"
        )

    def _wire_of(self, message: OutboundMessage, payload: BuiltPayload) -> bytes:
        for request in payload.requests:
            if message.id in request.message_ids:
                return render(request)
        refused = {result.message: result.reason for result in payload.refused}
        pytest.fail(f"message {message.id} was refused: {refused.get(message.id)}")

    def _assert_valid_event(self, event: DeliveryEvent) -> None:
        assert isinstance(event.kind, EventKind)
        assert event.vendor_id, "an event without the vendor's id cannot be matched"
        assert event.occurred_at.tzinfo is not None, "occurred_at must be timezone-aware"
        if event.kind is EventKind.FAILED:
            assert event.code is not None and CLEVERTAP_CODE.fullmatch(event.code), (
                f"a failed event needs a CleverTap code (900 to 920, no 911): {event.code!r}"
            )

    def _assert_refused(
        self,
        plugin: VendorPlugin,
        request: CallbackRequest,
        options: BaseModel,
        secrets: list[str],
    ) -> None:
        # Anything but a CallbackError comes out of the facade as PluginHookError: a plugin bug.
        try:
            events = plugin.parse_callback(request, options)
        except CallbackError as exc:
            assert exc.reason.strip(), "a CallbackError needs a reason the vendor can read"
            _assert_hidden(secrets, error=str(exc))
            return
        assert events == [], f"events were made up from a request that holds no report: {events}"
