"""The plugin contract suite (smsgate.testing.contract), run against example_provider."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from smsgate import CallbackRequest
from smsgate.testing.contract import Envelope, PluginContract, Responder
from smsgate_example_provider.options import ExampleOptions
from smsgate_example_provider.signatures import sign

SECRET = "whsec_Y29udHJhY3Qtc2lnbmluZy1rZXktMDEyMzQ1Njc4OQ=="


class TestExampleProviderContract(PluginContract):
    @pytest.fixture
    def plugin_name(self) -> str:
        return "example_provider"

    @pytest.fixture
    def options(self) -> ExampleOptions:
        return ExampleOptions(
            base_url="https://api.example-sms.test",
            api_key="sk_test_contract_0123456789",
            webhook_secret=SECRET,
            sender="ACMEIN",
            dlt_entity_id="1201159100000000000",
        )

    @pytest.fixture
    def accepted_response(self) -> Responder:
        def respond(request: httpx.Request) -> httpx.Response:
            messages = json.loads(request.content)["messages"]
            results = [
                {"reference": m["reference"], "status": "accepted", "id": f"msg_{m['reference']}"}
                for m in messages
            ]
            return httpx.Response(200, json={"results": results})

        return respond

    @pytest.fixture
    def callback_envelope(self, options: ExampleOptions) -> Envelope:
        def envelope(body: bytes) -> CallbackRequest:
            stamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": "evt_contract_1",
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(options.signing_key, "evt_contract_1", stamp, body),
            }
            return CallbackRequest("POST", headers, {}, body, "application/json")

        return envelope

    @pytest.fixture
    def sample_callback(self, callback_envelope: Envelope) -> CallbackRequest:
        report = {
            "type": "message.status",
            "timestamp": "2026-11-25T13:08:29Z",
            "data": {
                "id": "msg_1",
                "reference": "1",
                "to": "+919876543210",
                "status": "delivered",
                "error": None,
                "updated_at": "2026-11-25T13:08:29Z",
            },
        }
        return callback_envelope(json.dumps(report).encode())
