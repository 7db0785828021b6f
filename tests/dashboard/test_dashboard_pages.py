"""The dashboard's pages: what they show, what they escape, and that no input breaks them."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_builders import (
    accept,
    dispatch,
    kill_relays,
    message,
    open_circuit,
    relays,
    store_report,
    texts,
)
from operations_helpers import ADMIN_CONFIG, ADMIN_TOKEN, admin_config, csrf_of, dashboard_client

from smsgate.host.app import create_app
from smsgate.storage.models import utcnow
from smsgate.types import EventKind


@pytest.fixture
def server(make_config, database_url):
    with ServerThread(create_app(admin_config(make_config, database_url))) as running:
        yield running


@pytest.fixture
def client(server):
    signed_in = dashboard_client(server.url)
    yield signed_in
    signed_in.close()


def text_of(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_overview_shows_each_nicknames_figures(client, engine):
    now = utcnow()
    accept(engine, texts(4), now)
    dispatch(engine, now, submitted={"m1.": "v1"}, failed={"m2.": "910"}, unknown=["m3."])
    store_report(engine, "v1", EventKind.DELIVERED, now)
    kill_relays(engine, now, "HTTP 400")
    open_circuit(engine, now, "vendor down")

    page = client.get("/dashboard/")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    words = text_of(page.text)
    assert "pingbix-in pingbix open" in words
    assert "Delivery rate, last hour 50.0%" in words
    assert "Dead relays 2" in words and "Unknown fate 1" in words


def test_html_in_a_message_shows_as_text(client, engine):
    now = utcnow()
    body = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    accept(
        engine,
        [{"to": "9876543210", "body": body, "message_id": "<b>id</b>.", "campaign_id": "<i>c"}],
        now,
    )
    pk = message(engine, "<b>id</b>.").id

    page = client.get(f"/dashboard/messages/{pk}").text
    listing = client.get("/dashboard/messages").text

    assert "<script>alert" not in page and "<img src=x" not in page and "<b>id" not in listing
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;id&lt;/b&gt;." in page


def test_a_message_page_shows_its_timeline_and_raw_fields(client, engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, submitted={"m1.": "vendor-77"})
    store_report(
        engine,
        "vendor-77",
        EventKind.FAILED,
        now,
        code="901",
        description="DND",
        raw={"ErrorCode": "DND-1"},
    )

    words = text_of(client.get(f"/dashboard/messages/{message(engine, 'm1.').id}").text)

    assert "accepted accepted received from CleverTap" in words
    assert "submitted submitted" in words
    assert "failed failed 901 DND" in words
    assert "DND-1" in words and "vendor-77" in words


def test_search_by_campaign_shows_the_status_summary(client, engine):
    now = utcnow()
    accept(engine, texts(3, campaign="diwali"), now)
    dispatch(engine, now, failed={"m1.": "910"})

    words = text_of(client.get("/dashboard/messages", params={"campaign_id": "diwali"}).text)

    assert "3 matching: accepted 2 failed 1" in words
    bad = client.get("/dashboard/messages", params={"since": "last tuesday"})
    assert bad.status_code == 400 and "since:" in bad.text


@pytest.mark.parametrize(
    ("params", "said"),
    [({"nickname": "x\x00"}, "nickname contains a NUL character"), ({"state": "bogus"}, "bogus")],
)
def test_an_unusable_relay_filter_is_a_400_not_a_database_outage(client, params, said):
    answer = client.get("/dashboard/relays", params=params)

    assert answer.status_code == 400
    assert said in answer.text


def test_dead_relays_are_retried_from_the_list(client, engine):
    now = utcnow()
    accept(engine, texts(2), now)
    dispatch(engine, now, failed={"m1.": "910", "m2.": "910"})
    first, second = kill_relays(engine, now, "CleverTap refused the batch (HTTP 400)")
    page = client.get("/dashboard/relays").text
    assert "CleverTap refused the batch (HTTP 400)" in page

    done = client.post(
        "/dashboard/relays/action",
        data={
            "csrf": csrf_of(page),
            "back": "/dashboard/relays",
            "action": "retry_relay",
            "ids": [str(first), str(second)],
        },
    )

    assert done.headers["location"] == "/dashboard/relays"
    assert "2 done" in client.get("/dashboard/relays").text
    assert [row.state for row in relays(engine)] == ["pending", "pending"]


def test_unknown_messages_are_resent_only_with_consent(client, engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, unknown=["m1."])
    page = client.get("/dashboard/unknown").text
    pk = message(engine, "m1.").id
    form = {"csrf": csrf_of(page), "back": "/dashboard/unknown", "action": "resend", "ids": str(pk)}

    client.post("/dashboard/unknown/action", data=form)
    assert "tick the box" in client.get("/dashboard/unknown").text
    assert message(engine, "m1.").status == "unknown"

    client.post("/dashboard/unknown/action", data={**form, "consent": "yes"})
    assert message(engine, "m1.").status == "accepted"


def test_an_action_on_a_message_id_that_is_not_a_number_is_a_404(client):
    page = client.get("/dashboard/unknown").text

    answer = client.post("/dashboard/messages/abc/retry", data={"csrf": csrf_of(page)})

    assert answer.status_code == 404
    assert "no such message" in answer.text


def test_the_unknown_pages_give_up_spares_a_message_that_is_no_longer_unknown(client, engine):
    # Another operator resent it meanwhile: this page's list is out of date.
    now = utcnow()
    accept(engine, texts(2), now)
    dispatch(engine, now, unknown=["m1.", "m2."])
    page = client.get("/dashboard/unknown").text
    ids = [str(message(engine, m).id) for m in ("m1.", "m2.")]
    client.post(
        "/dashboard/unknown/action",
        data={
            "csrf": csrf_of(page),
            "back": "/",
            "action": "resend",
            "consent": "yes",
            "ids": ids[1],
        },
    )

    client.post(
        "/dashboard/unknown/action",
        data={"csrf": csrf_of(page), "back": "/dashboard/unknown", "action": "cancel", "ids": ids},
    )

    assert [message(engine, m).status for m in ("m1.", "m2.")] == ["failed", "accepted"]
    assert "no longer unknown" in client.get("/dashboard/unknown").text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        ["/dashboard/messages", "/dashboard/relays", "/dashboard/unknown", "/dashboard/messages/"]
    ),
    value=st.text(max_size=30),
    key=st.sampled_from(
        ["number", "message_id", "since", "until", "status", "cursor", "state", "nickname"]
    ),
)
def test_no_input_makes_a_500(client, path, value, key):
    target = path + (quote(value, safe="") or "0") if path.endswith("/") else path
    answer = client.get(target, params={key: value})
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])


XSS = '<script>alert("xss-7")</script><img src=x onerror=alert(7)>'


def test_html_sent_through_the_endpoints_shows_as_text_on_every_page(client, server, engine):
    """HTML in every field CleverTap and the vendor can fill, stored over HTTP: no page of
    the dashboard carries it as markup."""
    record = {
        "to": "+91 98450 00001",
        "body": XSS,
        "template_id": "<b>t</b>",
        "template_variables": [XSS],
        "campaign_id": XSS[:100],
        "message_id": "<i>xss</i>.",
        XSS: XSS,
    }
    auth = {"Authorization": f"Bearer {TOKEN}"}
    failing = {**record, "to": "12", "message_id": "<u>bad</u>."}  # rejected, stored failed
    unknown = {**record, "message_id": "<s>lost</s>."}
    sent = client.post(
        f"{server.url}/clevertap/pingbix-in",
        json={"messages": [record, failing, unknown]},
        headers=auth,
    )
    assert sent.status_code == 202, sent.text
    now = utcnow()
    dispatch(engine, now, submitted={"<i>xss</i>.": XSS[:100]}, unknown=["<s>lost</s>."])
    reported = client.get(
        f"{server.url}/callbacks/pingbix-in/{CALLBACK_TOKEN}",
        params={"Transactionid": XSS[:100], "Status": XSS, "Cause": XSS, XSS: XSS},
    )
    assert reported.json()["matched"] == 1
    kill_relays(engine, now, XSS)
    pk = message(engine, "<i>xss</i>.").id

    pages = {
        path: client.get(path)
        for path in (
            "/dashboard/",
            "/dashboard/messages",
            f"/dashboard/messages?campaign_id={quote(XSS[:100])}",
            f"/dashboard/messages/{pk}",
            f"/dashboard/messages/{message(engine, '<u>bad</u>.').id}",
            "/dashboard/relays",
            "/dashboard/unknown",
        )
    }

    for path, answer in pages.items():
        assert answer.status_code == 200, path
        html = answer.text
        for markup in ("<script>alert", "<img src=x", "<i>xss", "<u>bad", "<s>lost", "<b>t</b>"):
            assert markup not in html, (path, markup)
    detail = pages[f"/dashboard/messages/{pk}"].text
    assert "&lt;script&gt;alert(&#34;xss-7&#34;)&lt;/script&gt;" in detail
    assert "&lt;i&gt;xss&lt;/i&gt;." in detail
    assert "&lt;script&gt;alert" in pages["/dashboard/relays"].text
    assert "&lt;s&gt;lost&lt;/s&gt;." in pages["/dashboard/unknown"].text


#: A vendor password with every character HTML escaping changes.
PASSWORD = "Pw&q'z<9>\""
PASSWORD_PROVIDER = f"""
[providers.pingbix-two]
plugin = "pingbix"
token = "two-token-0123456789"
callback_token = "two-dlr-token-0123456789"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"

[providers.pingbix-two.options]
base_url = "http://127.0.0.1:9"
userid = "acme"
password = {json.dumps(PASSWORD)}
senderid = "ACMEIN"
"""
#: How the password, or a piece of it, would look escaped for HTML or a URL.
PASSWORD_SHAPES = ("Pw&q", "Pw&amp;q", "Pw&#38;q", "Pw%26q", "q'z", "q&#39;z", "q%27z", "&lt;9")


def test_a_secret_with_html_characters_is_masked_in_every_field_shown(
    make_config, database_url, engine
):
    config = make_config(
        database_url,
        extra=ADMIN_CONFIG + PASSWORD_PROVIDER,
        admin_token=ADMIN_TOKEN,
    )
    config.settings.gateway.public_url = "http://127.0.0.1:8000"
    now = utcnow()
    campaign = f"diwali-{PASSWORD}-north-zone-2026"  # long: the list shows it cut short
    accept(
        engine,
        [
            {
                "to": "9876543210",
                "body": f"pw {PASSWORD}",
                "template_id": PASSWORD,
                "campaign_id": campaign,
                "message_id": "leak.",
                PASSWORD: f"extra {PASSWORD}",
            }
        ],
        now,
    )
    dispatch(engine, now, submitted={"leak.": "v-leak"})
    store_report(
        engine, "v-leak", EventKind.FAILED, now, code="901", raw={PASSWORD: f"raw {PASSWORD}"}
    )
    pk = message(engine, "leak.").id

    with ServerThread(create_app(config)) as server:
        client = dashboard_client(server.url)
        try:
            pages = {
                path: client.get(path)
                for path in (
                    f"/dashboard/messages/{pk}",
                    "/dashboard/messages",
                    f"/dashboard/messages?campaign_id={quote(campaign)}",
                    f"/dashboard/messages?number={quote(PASSWORD)}&campaign_id={quote(campaign)}",
                    f"/dashboard/messages/{quote(PASSWORD, safe='')}",
                )
            }
        finally:
            client.close()

    for path, answer in pages.items():
        for shape in PASSWORD_SHAPES:
            assert shape not in answer.text, (path, shape)
    words = text_of(pages[f"/dashboard/messages/{pk}"].text)
    assert "Campaign diwali-****-north-zone-2026" in words
    assert "Template ****" in words and "pw ****" in words and "**** extra ****" in words
    assert "diwali-****" in pages["/dashboard/messages"].text
