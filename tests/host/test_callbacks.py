"""``/callbacks/{nickname}/{callback_token}`` over real HTTP: what vendors get back, and what
is stored."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread

from smsgate import CallbackError, hookimpl
from smsgate.config import load_config
from smsgate.host.app import create_app
from smsgate.plugins import load_plugins
from smsgate.storage.models import DeliveryInbox, Message, MessageEvent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "delivery"))
from delivery_helpers import write_config
from message_builders import NICK, accept, dispatch
from stub_plugins import SendsNothing

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]

DELIVERED = {
    "Transactionid": "tx-1",
    "Messageid": "m-991",
    "ErrorCode": "000",
    "mobileNo": "919845000000",
    "ReceivedTime": "2026-11-25 14:30:00",
    "DeliveredTime": "2026-11-25 14:30:05",
}


@pytest.fixture
def server(tmp_path, database_url, engine):
    config = write_config(
        tmp_path / "smsgate.toml",
        database_url,
        "http://127.0.0.1:9/sms/generic?account=TEST",
        delivery={"enabled": False},
    )
    with ServerThread(create_app(config, engine=engine)) as running:
        yield running


def url(server: ServerThread, nickname: str = NICK, token: str = CALLBACK_TOKEN) -> str:
    return f"{server.url}/callbacks/{nickname}/{token}"


def status_of(engine, message_id: str) -> str:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(MESSAGES.c.status).where(MESSAGES.c.message_id == message_id)
        ).scalar_one()


def report_events(engine) -> list:
    with engine.connect() as connection:
        return list(
            connection.execute(sa.select(EVENTS).where(EVENTS.c.kind.in_(["delivered", "failed"])))
        )


def test_a_pingbix_report_by_get_is_stored_before_the_200(server, engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    answer = httpx.get(url(server), params=DELIVERED)

    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "matched": 1, "waiting": 0}
    assert status_of(engine, "m1.") == "delivered"


def test_a_report_for_a_message_not_sent_yet_is_accepted_and_waits(server, engine):
    answer = httpx.get(url(server), params=DELIVERED)

    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "matched": 0, "waiting": 1}
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(INBOX)).scalar() == 1


def test_a_duplicate_report_gets_200_again_and_changes_nothing(server, engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    answers = [httpx.get(url(server), params=DELIVERED) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    assert [e.payload["applied"] for e in report_events(engine)] == [True, False]


def test_several_reports_in_one_json_post_are_all_stored(server, engine):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, submitted={"m1.": "tx-1", "m2.": "tx-2"})
    failed = {"transactionid": "tx-2", "ERRORCODE": "001", "status": "UNDELIV"}

    answer = httpx.post(url(server), json=[DELIVERED, failed])

    assert answer.json() == {"received": 2, "matched": 2, "waiting": 0}
    assert (status_of(engine, "m1."), status_of(engine, "m2.")) == ("delivered", "failed")


def test_concurrent_reports_each_get_their_own_answer_once_stored(server, engine):
    ids = [f"m{i}." for i in range(24)]
    accept(engine, ids)
    dispatch(engine, submitted={message_id: f"tx-{i}" for i, message_id in enumerate(ids)})
    # Odd transaction ids are reported twice, and one report names a message not sent yet.
    queries = [{**DELIVERED, "Transactionid": f"tx-{i}"} for i in range(24)]
    queries += [{**DELIVERED, "Transactionid": f"tx-{i}"} for i in range(1, 24, 2)]
    queries.append({**DELIVERED, "Transactionid": "tx-later"})

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient() as client:
            return await asyncio.gather(*(client.get(url(server), params=q) for q in queries))

    answers = asyncio.run(post_all())

    assert [answer.status_code for answer in answers] == [200] * len(queries)
    assert [answer.json()["matched"] for answer in answers] == [1] * (len(queries) - 1) + [0]
    assert answers[-1].json() == {"received": 1, "matched": 0, "waiting": 1}
    assert {status_of(engine, message_id) for message_id in ids} == {"delivered"}
    assert len(report_events(engine)) == len(queries) - 1


def test_a_report_by_form_post_is_read_like_one_by_get(server, engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    answer = httpx.post(url(server), data=DELIVERED)

    assert answer.json()["matched"] == 1


@pytest.mark.parametrize(
    ("nickname", "token"),
    [(NICK, "wrong-token-0123456789"), ("no-such-nickname", CALLBACK_TOKEN), (NICK, "")],
)
def test_a_wrong_token_or_nickname_is_the_same_404_that_names_neither(server, nickname, token):
    answer = httpx.get(url(server, nickname, token or "x"), params=DELIVERED)

    assert answer.status_code == 404
    assert answer.json() == {
        "error": "no such callback URL: check the nickname and the callback token"
    }


def test_a_report_the_plugin_cannot_read_is_a_400_with_the_reason(server):
    no_id = httpx.get(url(server), params={"ErrorCode": "0", "DeliveredTime": "x"})
    not_json = httpx.post(
        url(server), content=b"{not json", headers={"content-type": "application/json"}
    )

    assert no_id.status_code == 400
    assert no_id.json() == {"error": "the report cannot be read: a report has no Transactionid"}
    assert not_json.status_code == 400
    assert not_json.json() == {"error": "the report cannot be read: the body is not valid JSON"}


def test_a_body_over_the_size_limit_is_refused_with_413(tmp_path, database_url, engine):
    config = write_config(
        tmp_path / "smsgate.toml",
        database_url,
        "http://127.0.0.1:9/sms/generic?account=TEST",
        delivery={"enabled": False},
    )
    text = config.path.read_text().replace("[gateway]\n", "[gateway]\nmax_body_bytes = 100\n")
    config.path.write_text(text)
    config = load_config(config.path, load_plugins())

    with ServerThread(create_app(config, engine=engine)) as running:
        answer = httpx.post(url(running), json=[DELIVERED] * 5)

    assert answer.status_code == 413


def test_a_query_that_is_not_utf8_is_a_400(server):
    answer = httpx.get(url(server) + "?Transactionid=%ff%fe")

    assert answer.status_code == 400


def test_a_head_request_checks_the_url_and_stores_nothing(server, engine):
    assert httpx.head(url(server)).status_code == 200
    assert httpx.head(url(server, token="wrong-token-0123456789")).status_code == 404
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(INBOX)).scalar() == 0


def test_the_callback_token_and_the_vendor_password_are_masked_in_stored_reports(server, engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    httpx.get(
        url(server),
        params={**DELIVERED, "echo": f"token {CALLBACK_TOKEN}", "password": "demo-password"},
    )

    raw = report_events(engine)[0].payload["raw"]
    assert raw["echo"] == "token ****"
    assert raw["password"] == "****"
    assert raw["transactionid"] == "tx-1"


def test_a_nul_in_a_raw_field_is_kept_as_an_escape_and_the_report_still_counts(server, engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    answer = httpx.get(url(server), params={**DELIVERED, "Messageid": "m\x00id", "x\x00": "\x00"})

    assert answer.status_code == 200
    assert status_of(engine, "m1.") == "delivered"
    raw = report_events(engine)[0].payload["raw"]
    assert (raw["messageid"], raw["x\\u0000"]) == ("m\\u0000id", "\\u0000")


def test_a_nul_in_the_transaction_id_is_a_400_that_changes_nothing(server, engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    answer = httpx.get(url(server), params={**DELIVERED, "Transactionid": "tx-1\x00"})

    assert answer.status_code == 400
    assert "NUL character" in answer.json()["error"]
    assert status_of(engine, "m1.") == "submitted"


class _Raising(SendsNothing):
    @hookimpl
    def parse_callback(self, request, options):
        raise KeyError("Transactionid")


class _Refusing(SendsNothing):
    @hookimpl
    def parse_callback(self, request, options):
        raise CallbackError(f"signature mismatch for {CALLBACK_TOKEN}")


class _Garbage(SendsNothing):
    @hookimpl
    def parse_callback(self, request, options):
        return ["not an event"]


class _Misspelt(SendsNothing):
    @hookimpl
    def parse_callbacks(self, request, options):
        return []


def custom_server(tmp_path, database_url, engine, plugin: object) -> ServerThread:
    path = tmp_path / "custom.toml"
    path.write_text(
        f"""\
[gateway]
database_url = "{database_url}"
[gateway.dispatch]
enabled = false
[gateway.delivery]
enabled = false
[providers.custom]
plugin = "custom"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
"""
    )
    config = load_config(path, load_plugins(use_entry_points=False, extra={"custom": plugin}))
    return ServerThread(create_app(config, engine=engine))


@pytest.mark.parametrize(
    ("plugin", "status", "error"),
    [
        (
            _Raising(),
            400,
            "the report cannot be read: plugin 'custom' raised KeyError in parse_callback",
        ),
        (_Refusing(), 400, "the report cannot be read: signature mismatch for ****"),
        (
            _Garbage(),
            400,
            "the report cannot be read: plugin 'custom': parse_callback returned "
            "list of str, not a sequence of DeliveryEvent",
        ),
        (_Misspelt(), 503, None),
    ],
)
def test_a_plugin_that_fails_never_causes_a_500(
    tmp_path, database_url, engine, plugin, status, error, caplog
):
    with custom_server(tmp_path, database_url, engine, plugin) as running:
        answer = httpx.get(url(running, "custom"), params={"x": "1"})

    assert answer.status_code == status
    if error is not None:
        assert answer.json() == {"error": error}
    else:
        assert answer.json()["error"].startswith("provider 'custom' is unavailable")
