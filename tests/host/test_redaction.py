"""Secrets in URLs never reach the log: callback tokens and credentials in queries."""

from __future__ import annotations

import logging

import httpx
import pytest
from conftest import CALLBACK_TOKEN

from smsgate.host.redaction import (
    hide_secrets,
    mask_data,
    redact,
    redact_logs,
    register_config,
    register_secrets,
)


@pytest.fixture
def logger():
    name = "smsgate-test-redaction"
    redact_logs(name)
    return logging.getLogger(name)


def test_the_access_log_never_shows_a_callback_token(logger):
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            f"/callbacks/pingbix-in/{CALLBACK_TOKEN}?Transactionid=1",
            "1.1",
            200,
        ),
        None,
    )

    for redactor in logger.filters:
        redactor.filter(record)

    assert CALLBACK_TOKEN not in record.getMessage()
    assert "/callbacks/pingbix-in/****?Transactionid=1" in record.getMessage()


def test_an_http_client_log_line_never_shows_a_password_in_a_query(logger, caplog):
    url = httpx.URL(
        "https://app.pingbix.com/SMSApi/report/status?userid=acme&password=s3cret-pw&uuid=42"
    )

    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info('HTTP Request: %s %s "%s"', "GET", url, "HTTP/1.1 200 OK")

    assert "s3cret-pw" not in caplog.text
    assert "userid=acme&password=****&uuid=42" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/x?apikey=abc&n=1", "/x?apikey=****&n=1"),
        ("/x?API_KEY=abc", "/x?API_KEY=****"),
        ("/x?keyword=abc", "/x?keyword=abc"),
        ("/callbacks/a/b", "/callbacks/a/****"),
        ("/clevertap/pingbix-in", "/clevertap/pingbix-in"),
    ],
)
def test_only_secrets_are_masked(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("scheme", ["Basic", "BASIC", "Bas\u0131c", "BAS\u0130C", "bearer"])
def test_credentials_after_any_spelling_the_pattern_accepts_are_masked(scheme):
    assert redact(f"Authorization: {scheme} dXNlcjpwYXNzd29yZA==") == (
        f"Authorization: {scheme} ****"
    )


def test_our_ids_are_shown_whole_but_the_same_keys_in_a_vendors_fields_are_masked():
    # The suite's configured vendor password; registering it again changes nothing.
    register_secrets(["secret-password"])
    view = {
        "message_id": "m.secret-password.1.",
        "events": [{"payload": {"vendor_id": "tx", "raw": {"vendor_id": "secret-password"}}}],
        "extras": {"meta": "secret-password"},
    }

    shown = mask_data(view)

    assert shown["message_id"] == "m.secret-password.1."
    assert shown["events"][0]["payload"]["raw"]["vendor_id"] == "****"
    assert shown["extras"]["meta"] == "****"


def test_a_secret_in_a_key_a_client_chose_is_masked_and_no_value_is_lost():
    register_secrets(["secret-password"])
    view = {"extras": {"k secret-password": "1", "k ****": "2", "plain": "3"}}

    shown = mask_data(view)

    assert shown["extras"] == {"k ****": "1", "k ****~": "2", "plain": "3"}


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql+psycopg://gw@db.example/sms?password=QueryPass77", "QueryPass77"),
        ("postgresql+psycopg://gw:Pa@ssW0rdX@db.example/sms", "ssW0rdX"),
    ],
    ids=["in-the-query", "unencoded-at"],
)
def test_a_database_password_is_masked_in_the_log_wherever_the_url_holds_it(
    make_config, logger, url, password
):
    register_config(make_config(url))
    record = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 1, "driver said: %s", (f"bad {password}",), None
    )

    for redactor in logger.filters:
        redactor.filter(record)

    assert password not in record.getMessage()


def test_a_secret_is_masked_also_as_a_url_carries_it():
    register_secrets(["p@ss word/&1"])

    text = hide_secrets(
        "Location: https://vendor.test/x?pwd=p%40ss+word%2F%261 and p%40ss%20word/%261"
    )

    assert text == "Location: https://vendor.test/x?pwd=**** and ****"
