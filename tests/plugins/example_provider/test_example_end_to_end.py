"""example_provider served by a gateway, end to end, with the fixtures smsgate ships.

CleverTap's send reaches the sandbox in one batch; the sandbox pushes signed reports to the
gateway, which verifies them and relays delivered / failed records to the fake CleverTap.
Everything is real HTTP on loopback ports (``smsgate_gateway``, ``smsgate_sandbox``,
``smsgate_fake_clevertap``), on a SQLite file.
"""

from __future__ import annotations

from typing import Any

import httpx

from smsgate.testing.harness import FakeCleverTapServer, free_port
from smsgate_example_provider.sandbox import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET

TOKEN = "ct-token-0123456789"
CALLBACK_TOKEN = "dlr-token-0123456789"


def config(sandbox_url: str, clevertap: FakeCleverTapServer) -> str:
    return f"""
[gateway.delivery]
relay_poll_interval = 0.2

[providers.example-in]
plugin = "example_provider"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "{clevertap.callback_url}"
default_country = "IN"

[providers.example-in.options]
base_url = "{sandbox_url}"
api_key = "{DEFAULT_API_KEY}"
webhook_secret = "{DEFAULT_WEBHOOK_SECRET}"
sender = "ACMEIN"
"""


def test_a_batch_is_sent_and_each_signed_report_reaches_clevertap(
    smsgate_gateway: Any, smsgate_sandbox: Any, smsgate_fake_clevertap: FakeCleverTapServer
) -> None:
    sandbox_port = free_port()
    gateway = smsgate_gateway(config(f"http://127.0.0.1:{sandbox_port}", smsgate_fake_clevertap))
    sandbox = smsgate_sandbox(
        "example_provider",
        dlr_url=gateway.callback_url("example-in"),
        outcomes={"delivered": 1, "dnd": 1},
        seed=11,
        port=sandbox_port,
    )
    records = [
        {"to": f"98450{n:05d}", "body": f"hello {n}", "message_id": f"m.{n}."} for n in range(6)
    ]

    answer = gateway.send("example-in", records)

    assert answer.status_code == 202, answer.text
    received = smsgate_fake_clevertap.wait_for(len(records))
    by_message = {record["meta"]: record for record in received}
    assert set(by_message) == {record["message_id"] for record in records}
    assert {record["event"] for record in received} == {"delivered", "failed"}
    assert all(r["code"] == "901" for r in received if r["event"] == "failed")
    # Many messages per vendor request: the shape this plugin exists to show.
    sent = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]
    assert len(sent) < len(records)
    assert sorted(m["to"] for r in sent for m in r["messages"]) == [
        f"+9198450{n:05d}" for n in range(6)
    ]
