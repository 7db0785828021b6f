"""build_payload: what Pingbix is sent for each message, without sending it."""

from __future__ import annotations

import httpx
import pingbix_cassettes
import pytest

from smsgate import Encoding, OutboundMessage, Outcome, VendorRequest
from smsgate.intake.records import parse_template_variables
from smsgate.plugins import PluginSet, VendorPlugin
from smsgate_pingbix.options import PingbixOptions

TEMPLATE_ID = pingbix_cassettes.account("PINGBIX_DLT_TEMPLATE_ID")
#: A DLT template with a single variable slot.
ONE_SLOT = "1107000000000000777"

options = pingbix_cassettes.options


@pytest.fixture
def pingbix(plugins: PluginSet) -> VendorPlugin:
    return plugins.get("pingbix")


def message(id: int = 1, **fields: object) -> OutboundMessage:
    values: dict[str, object] = {"message_id": f"ct-{id}.", "to": "+919876543210", "body": "Hi"}
    values.update(fields)
    return OutboundMessage(id=id, **values)  # type: ignore[arg-type]


def fields(request: VendorRequest) -> dict[str, str]:
    assert request.files is not None
    return {name: value for name, (_, value) in request.files.items()}


def wire_body(request: VendorRequest) -> bytes:
    return httpx.Request(
        request.method, request.url, headers=request.headers, files=request.files
    ).read()


def test_each_message_becomes_one_multipart_post_to_the_send_path(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    built = pingbix.build_payload([message(1), message(2, body="Bye")], options)

    assert built.refused == ()
    assert [request.message_ids for request in built.requests] == [(1,), (2,)]
    for request in built.requests:
        assert request.method == "POST"
        assert request.url == f"{options.base_url}/SMSApi/send"
        assert request.headers is not None
        assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")


def test_fields_are_sent_in_a_fixed_order_with_pingbix_names(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (request,) = pingbix.build_payload([message(template_id=TEMPLATE_ID)], options).requests

    assert fields(request) == {
        "userid": options.userid,
        "password": options.password.get_secret_value(),
        "sendMethod": "quick",
        "mobile": "919876543210",
        "msg": "Hi",
        "senderid": options.senderid,
        "msgType": "text",
        "dltEntityId": options.dlt_entity_id,
        "dltTemplateId": TEMPLATE_ID,
        "output": "json",
    }
    assert list(fields(request)) == list(fields(request).keys())  # insertion order is the wire


def test_the_same_messages_always_give_byte_identical_requests(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    messages = [message(1, body="नमस्ते", encoding=Encoding.UCS2), message(2)]

    first = pingbix.build_payload(messages, options).requests
    second = pingbix.build_payload(messages, options).requests

    assert first == second
    assert [wire_body(r) for r in first] == [wire_body(r) for r in second]
    assert first[0].headers != first[1].headers  # the boundary follows the content


def test_fields_go_as_plain_form_fields_not_files(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (request,) = pingbix.build_payload([message(body="Hello there")], options).requests

    body = wire_body(request)

    assert b'Content-Disposition: form-data; name="msg"\r\n\r\nHello there\r\n' in body
    assert b"filename=" not in body
    assert b"Content-Type: " not in body


def test_number_is_sent_as_country_code_and_digits(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (request,) = pingbix.build_payload([message(to="+447700900123")], options).requests

    assert fields(request)["mobile"] == "447700900123"


def test_a_number_that_is_not_e164_is_refused_as_invalid(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    built = pingbix.build_payload([message(to="+91 98765")], options)

    assert built.requests == ()
    (refused,) = built.refused
    assert (refused.outcome, refused.code) == (Outcome.FAILED, "910")


def test_ucs2_text_is_sent_as_unicode_and_gsm_text_as_text(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    built = pingbix.build_payload(
        [message(1, body="Ünïcödé ✓", encoding=Encoding.UCS2), message(2, body="Plain €")],
        options,
    )

    assert [fields(r)["msgType"] for r in built.requests] == ["unicode", "text"]


@pytest.mark.parametrize("setting", ["text", "unicode"])
def test_msg_type_option_overrides_the_detected_encoding(
    pingbix: VendorPlugin, options: PingbixOptions, setting: str
) -> None:
    forced = options.model_copy(update={"msg_type": setting})
    built = pingbix.build_payload(
        [message(1, body="नमस्ते", encoding=Encoding.UCS2), message(2)], forced
    )

    assert [fields(r)["msgType"] for r in built.requests] == [setting, setting]


def test_dlt_ids_are_left_out_when_not_known(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    bare = options.model_copy(update={"dlt_entity_id": None})

    (request,) = pingbix.build_payload([message()], bare).requests

    assert "dltEntityId" not in fields(request)
    assert "dltTemplateId" not in fields(request)


@pytest.mark.parametrize("key", ["senderid", "SenderID", "sender_id"])
def test_a_campaign_senderid_overrides_the_option(
    pingbix: VendorPlugin, options: PingbixOptions, key: str
) -> None:
    (request,) = pingbix.build_payload([message(extras={key: " PROMOS "})], options).requests

    assert fields(request)["senderid"] == "PROMOS"


def test_an_empty_campaign_senderid_falls_back_to_the_option(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (request,) = pingbix.build_payload([message(extras={"senderid": ""})], options).requests

    assert fields(request)["senderid"] == options.senderid


def test_a_template_without_body_is_rendered_from_the_templates_option(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    record = message(body=None, template_id=TEMPLATE_ID, template_variables=("4821", "10"))

    (request,) = pingbix.build_payload([record], options).requests

    assert fields(request)["msg"] == "Your OTP is 4821. Valid for 10 min"
    assert fields(request)["dltTemplateId"] == TEMPLATE_ID
    assert fields(request)["msgType"] == "text"


def test_a_rendered_template_is_sent_as_unicode_when_its_text_needs_it(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    record = message(body=None, template_id=TEMPLATE_ID, template_variables=("४८२१", "10"))

    (request,) = pingbix.build_payload([record], options).requests

    assert fields(request)["msgType"] == "unicode"


def test_template_variables_are_inserted_literally(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    record = message(body=None, template_id=TEMPLATE_ID, template_variables=(r"\g<0>\1", "{#var#}"))

    (request,) = pingbix.build_payload([record], options).requests

    assert fields(request)["msg"] == r"Your OTP is \g<0>\1. Valid for {#var#} min"


def test_a_body_wins_over_the_template_text(pingbix: VendorPlugin, options: PingbixOptions) -> None:
    record = message(body="As CleverTap sent it", template_id=TEMPLATE_ID)

    (request,) = pingbix.build_payload([record], options).requests

    assert fields(request)["msg"] == "As CleverTap sent it"


def test_a_template_missing_from_the_option_is_refused_as_a_template_error(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    record = message(body=None, template_id="1207000000000000000", template_variables=("1",))

    (refused,) = pingbix.build_payload([record], options).refused

    assert (refused.message, refused.outcome, refused.code) == (1, Outcome.FAILED, "908")
    assert refused.reason is not None and "templates" in refused.reason


@pytest.mark.parametrize("variables", [("4821",), ("4821", "10", "extra")])
def test_a_wrong_number_of_template_variables_is_refused(
    pingbix: VendorPlugin, options: PingbixOptions, variables: tuple[str, ...]
) -> None:
    record = message(body=None, template_id=TEMPLATE_ID, template_variables=variables)

    (refused,) = pingbix.build_payload([record], options).refused

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "900")
    assert refused.reason is not None and "2 variable slot(s)" in refused.reason


@pytest.fixture
def one_slot(options: PingbixOptions) -> PingbixOptions:
    """The account, with one template of a single slot: :data:`ONE_SLOT`."""
    return options.model_copy(update={"templates": {ONE_SLOT: "Rs {#var#} credited"}})


@pytest.mark.parametrize(
    ("sent_as", "text"),
    [
        ("1,500", "Rs 1,500 credited"),
        ("Ravi, Kumar", "Rs Ravi, Kumar credited"),
    ],
)
def test_a_one_slot_template_takes_a_comma_separated_text_whole(
    pingbix: VendorPlugin, one_slot: PingbixOptions, sent_as: str, text: str
) -> None:
    record = message(
        body=None,
        template_id=ONE_SLOT,
        template_variables=parse_template_variables(sent_as),
        template_variables_text=sent_as,
    )

    (request,) = pingbix.build_payload([record], one_slot).requests

    assert fields(request)["msg"] == text


def test_the_text_counted_at_intake_is_the_text_that_is_sent(
    pingbix: VendorPlugin, one_slot: PingbixOptions
) -> None:
    record = message(
        body=None,
        template_id=ONE_SLOT,
        template_variables=parse_template_variables("1,500"),
        template_variables_text="1,500",
    )
    (request,) = pingbix.build_payload([record], one_slot).requests

    counted = pingbix.template_text(ONE_SLOT, ("1", "500"), "1,500", one_slot)

    assert counted == fields(request)["msg"] == "Rs 1,500 credited"
    assert pingbix.template_text("1107000000000000999", ("1",), "1", one_slot) is None


def test_a_one_slot_template_still_refuses_several_variables_sent_as_a_list(
    pingbix: VendorPlugin, one_slot: PingbixOptions
) -> None:
    record = message(
        body=None,
        template_id=ONE_SLOT,
        template_variables=("1", "500"),
        template_variables_text='["1", "500"]',
    )

    (refused,) = pingbix.build_payload([record], one_slot).refused

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "900")


@pytest.mark.parametrize("body", [None, "", "   "])
def test_a_record_without_text_or_template_is_refused(
    pingbix: VendorPlugin, options: PingbixOptions, body: str | None
) -> None:
    (refused,) = pingbix.build_payload([message(body=body)], options).refused

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "900")


def test_refused_messages_do_not_hold_back_the_others(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    built = pingbix.build_payload(
        [message(1), message(2, body=None), message(3, to="+91x"), message(4)], options
    )

    assert [request.message_ids for request in built.requests] == [(1,), (4,)]
    assert [result.message for result in built.refused] == [2, 3]


def test_a_logged_request_does_not_show_the_password(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (request,) = pingbix.build_payload([message()], options).requests

    assert options.password.get_secret_value() not in repr(request)
    assert options.password.get_secret_value() in wire_body(request).decode()


def test_base_url_must_be_http_and_loses_its_trailing_slash() -> None:
    common = {"userid": "u", "password": "p", "senderid": "ACMEIN"}

    assert PingbixOptions(base_url="http://127.0.0.1:9090/", **common).base_url == (
        "http://127.0.0.1:9090"
    )
    with pytest.raises(ValueError, match="http"):
        PingbixOptions(base_url="app.pingbix.com", **common)
