"""The contract suite fails a plugin that breaks the contract, and names what it broke.

A careless plugin (example_provider with five classic mistakes) is installed under its own
entry point and the contract is run on it in a pytest subprocess, as a plugin author runs it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CARELESS = """
    import json

    from pydantic import ConfigDict

    import smsgate_example_provider as good
    from smsgate import Outcome, SendResult, hookimpl
    from smsgate_example_provider.options import ExampleOptions


    class LaxOptions(ExampleOptions):
        model_config = ConfigDict(extra="ignore")  # mistake 1: typos pass silently


    @hookimpl
    def options_model():
        return LaxOptions


    @hookimpl
    def build_payload(messages, options):
        built = good.build_payload(messages, options)
        for request in built.requests:  # mistake 5: the DLT template id is dropped
            for item in request.json["messages"]:
                item.pop("template_id", None)
        return built


    @hookimpl
    async def send_batch(requests, client, options):
        key = options.api_key.get_secret_value()
        judged = []
        for result in await good.send_batch(requests, client, options):
            if result.outcome is Outcome.UNKNOWN:  # mistake 2: "unknown" sent again
                result = SendResult.retry(result.message, "no answer; sending again")
            elif result.outcome is Outcome.FAILED:  # mistake 3: the key in the reason
                reason = f"{result.reason} with key {key}"
                result = SendResult.failed(result.message, reason, code=result.code)
            judged.append(result)
        return judged


    @hookimpl
    def parse_callback(request, options):
        json.loads(request.body)  # mistake 4: garbage raises ValueError, not CallbackError
        return good.parse_callback(request, options)
"""

CONTRACT = """
    import json
    import time

    import httpx
    import pytest

    from smsgate import CallbackRequest
    from smsgate.testing.contract import PluginContract
    from smsgate_example_provider.signatures import sign
    from {module} import LaxOptions

    SECRET = "whsec_Y29udHJhY3Qtc2lnbmluZy1rZXktMDEyMzQ1Njc4OQ=="


    class TestCarelessContract(PluginContract):
        @pytest.fixture
        def plugin_name(self):
            return "careless"

        @pytest.fixture
        def options(self):
            return LaxOptions(api_key="sk_test_careless_0123", webhook_secret=SECRET, sender="AC")

        @pytest.fixture
        def accepted_response(self):
            def respond(request):
                sent = json.loads(request.content)["messages"]
                results = [
                    {{"reference": m["reference"], "status": "accepted", "id": "msg_1"}}
                    for m in sent
                ]
                return httpx.Response(200, json={{"results": results}})

            return respond

        @pytest.fixture
        def sample_callback(self, options):
            body = json.dumps(
                {{"type": "message.status", "data": {{"id": "msg_1", "status": "delivered"}}}}
            ).encode()
            stamp = int(time.time())
            headers = {{
                "webhook-id": "evt_1",
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(options.signing_key, "evt_1", stamp, body),
            }}
            return CallbackRequest("POST", headers, {{}}, body, "application/json")
"""


def test_the_contract_names_each_broken_promise_of_a_careless_plugin(tmp_path, install_plugin):
    module = install_plugin("careless", CARELESS)
    tests = tmp_path / "test_careless_contract.py"
    tests.write_text(textwrap.dedent(CONTRACT.format(module=module)))

    done = subprocess.run(
        [str(Path(sys.executable).with_name("pytest")), "-q", "-rf", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tests)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )  # fmt: skip

    failed = {
        line.split("::")[-1].split(" - ")[0]
        for line in done.stdout.splitlines()
        if line.startswith("FAILED")
    }
    assert done.returncode == 1, done.stdout[-3000:]
    assert failed == {
        "test_options_reject_unknown_keys",
        "test_send_batch_classifies_the_vendors_answer[http-400]",
        *(
            f"test_send_batch_classifies_the_vendors_answer[{fault}]"
            for fault in (
                "http-500", "http-504", "http-200-unreadable", "read-timeout",
                "connection-dropped",
            )
        ),
        *(
            f"test_garbage_is_refused_with_a_callback_error[{name}]"
            for name in (
                "binary", "empty", "form-junk", "invalid-utf8", "json-deep-nesting", "prose",
                "truncated-json", "whitespace",
            )
        ),
        "test_an_empty_request_is_refused_or_gives_no_events[GET]",
        "test_an_empty_request_is_refused_or_gives_no_events[POST]",
        "test_a_truncated_report_is_refused",
        "test_dlt_template_id_reaches_the_vendor",
    }  # fmt: skip
    assert "a secret of the options appears in results" in done.stdout
    assert "the DLT template id of message 3 is not in its request" in done.stdout
    assert "http-500: message 1 is retry, expected unknown (no answer; sending again)" in (
        done.stdout
    )
