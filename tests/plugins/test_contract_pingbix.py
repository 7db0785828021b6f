"""The plugin contract suite (smsgate.testing.contract), run against the Pingbix plugin."""

from __future__ import annotations

import httpx
import pytest

from smsgate import CallbackRequest
from smsgate.testing.contract import PluginContract, Responder
from smsgate_pingbix.options import PingbixOptions


class TestPingbixContract(PluginContract):
    @pytest.fixture
    def plugin_name(self) -> str:
        return "pingbix"

    @pytest.fixture
    def options(self) -> PingbixOptions:
        return PingbixOptions(
            base_url="https://app.pingbix.test",
            userid="acme",
            password="contract-password-0123",
            senderid="ACMEIN",
            dlt_entity_id="1201159100000000000",
            templates={"1207161234567890123": "Your OTP is {#var#}. Valid for {#var#} min"},
        )

    @pytest.fixture
    def accepted_response(self) -> Responder:
        def respond(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                200,
                json={
                    "status": "success",
                    "mobile": "919876543210",
                    "invalidMobile": "",
                    "transactionId": "6509661746837016106",
                    "statusCode": "200",
                    "reason": "success",
                    "msgId": "",
                },
            )

        return respond

    @pytest.fixture
    def sample_callback(self) -> CallbackRequest:
        return CallbackRequest(
            method="GET",
            headers={},
            query={
                "Transactionid": "6509661746837016106",
                "Messageid": "1",
                "ErrorCode": "000",
                "mobileNo": "919876543210",
                "ReceivedTime": "2026-11-25 18:30:00",
                "DeliveredTime": "2026-11-25 18:30:04",
                "Status": "DELIVRD",
            },
            body=b"",
        )
