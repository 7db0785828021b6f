"""The fixtures smsgate ships for plugin authors (smsgate.testing.pytest_plugin), used as such."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import CALLBACK_TOKEN, TOKEN

from smsgate.testing.harness import FakeCleverTapServer, vcr_config, wait_until

PINGBIX = f"""
[providers.pingbix-in]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=T"

[providers.pingbix-in.options]
userid = "acme"
password = "secret-password"
senderid = "ACMEIN"
"""


def test_a_gateway_runs_on_a_temporary_sqlite_file_with_the_given_providers(smsgate_gateway):
    gateway = smsgate_gateway(PINGBIX)

    ready = httpx.get(f"{gateway.url}/readyz")

    assert ready.status_code == 200
    assert ready.json()["providers"] == {"pingbix-in": "ok"}
    assert gateway.config.database_url.startswith("sqlite:///")
    assert Path(gateway.config.database_url.removeprefix("sqlite:///")).exists()
    assert gateway.config.settings.gateway.public_url == gateway.url
    assert (
        gateway.callback_url("pingbix-in") == f"{gateway.url}/callbacks/pingbix-in/{CALLBACK_TOKEN}"
    )


def test_gateway_keys_given_are_kept_and_the_missing_ones_added(smsgate_gateway, tmp_path):
    config = '[gateway]\npublic_url = "https://sms.example.com"\nmax_body_bytes = 4096\n' + PINGBIX

    gateway = smsgate_gateway(config)

    settings = gateway.config.settings.gateway
    assert (settings.public_url, settings.max_body_bytes) == ("https://sms.example.com", 4096)
    assert gateway.config.database_url.startswith(f"sqlite:///{tmp_path}")


def test_a_gateway_accepts_clevertap_records_sent_through_it(smsgate_gateway):
    gateway = smsgate_gateway("[gateway.dispatch]\nenabled = false\n" + PINGBIX)

    answer = gateway.send("pingbix-in", [{"to": "+919876543210", "body": "hi", "message_id": "m."}])

    assert (answer.status_code, answer.json()["accepted"]) == (202, 1)


def test_the_fake_clevertap_records_what_it_accepts_and_simulates_outages(
    smsgate_fake_clevertap: FakeCleverTapServer,
):
    smsgate_fake_clevertap.outage(503, count=1)
    body = [{"event": "delivered", "data": [{"ts": 1795000000, "meta": "m.1."}]}]

    refused = httpx.post(smsgate_fake_clevertap.callback_url, json=body)
    accepted = httpx.post(smsgate_fake_clevertap.callback_url, json=body)

    assert (refused.status_code, accepted.status_code) == (503, 200)
    assert smsgate_fake_clevertap.wait_for(1) == [
        {"event": "delivered", "ts": 1795000000, "meta": "m.1."}
    ]


def test_a_fake_clevertap_that_fails_for_a_while_then_recovers(
    smsgate_fake_clevertap: FakeCleverTapServer,
):
    smsgate_fake_clevertap.outage(503, seconds=0.5)
    body = [{"event": "delivered", "data": [{"ts": 1795000000, "meta": "m.1."}]}]

    refused = httpx.post(smsgate_fake_clevertap.callback_url, json=body)
    accepted = wait_until(
        lambda: (
            (answer := httpx.post(smsgate_fake_clevertap.callback_url, json=body))
            and answer.status_code == 200
            and answer
        ),
        "the outage to end",
        timeout=10,
    )

    assert (refused.status_code, accepted.status_code) == (503, 200)
    assert len(smsgate_fake_clevertap.records()) == 1


def test_a_slow_fake_clevertap_keeps_a_post_whose_caller_gave_up(
    smsgate_fake_clevertap: FakeCleverTapServer,
):
    smsgate_fake_clevertap.latency(0.5)
    body = [{"event": "delivered", "data": [{"ts": 1795000000, "meta": "m.1."}]}]

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(smsgate_fake_clevertap.callback_url, json=body, timeout=0.1)

    assert smsgate_fake_clevertap.wait_for(1) == [
        {"event": "delivered", "ts": 1795000000, "meta": "m.1."}
    ]


def test_a_sandbox_is_served_for_any_plugin_that_has_one(smsgate_sandbox):
    url = smsgate_sandbox("pingbix")

    assert httpx.get(f"{url}/sandbox/requests").json() == {"requests": []}


def test_the_vcr_settings_keep_credentials_out_and_match_on_the_body(smsgate_vcr_config):
    assert smsgate_vcr_config == vcr_config()
    assert smsgate_vcr_config["match_on"] == ("method", "path", "query", "body")
    filtered = dict(smsgate_vcr_config["filter_headers"][:3])
    assert filtered == {
        "authorization": "FILTERED",
        "proxy-authorization": "FILTERED",
        "x-api-key": "FILTERED",
    }
    assert "content-length" in smsgate_vcr_config["filter_headers"]
    assert ("password", "FILTERED") in smsgate_vcr_config["filter_query_parameters"]
    assert ("api_key", "FILTERED") in smsgate_vcr_config["filter_post_data_parameters"]
    assert "record_mode" not in smsgate_vcr_config


def test_the_shipped_fixtures_are_prefixed_and_clash_with_none_of_the_suites():
    import conftest

    from smsgate.testing import pytest_plugin

    assert pytest_plugin.__all__ == sorted(pytest_plugin.__all__)
    for name in pytest_plugin.__all__:
        assert name.startswith("smsgate_")
        assert not hasattr(conftest, name)
