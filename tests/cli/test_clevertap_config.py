"""``smsgate clevertap-config NICKNAME``: CleverTap's provider form, field by field, in order."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner
from conftest import CALLBACK_TOKEN, TOKEN

from smsgate.cli import main

PLACEHOLDERS = {
    "to": "$$To",
    "body": "$$Body",
    "template_id": "$$TemplateID",
    "template_variables": "$$TemplateVariables",
    "campaign_id": "$$CampaignID",
    "message_id": "$$MessageID",
}


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "smsgate.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [gateway]
            public_url = "https://sms.example.com/"

            [providers.pingbix-in]
            plugin = "pingbix"
            token = "{TOKEN}"
            callback_token = "{CALLBACK_TOKEN}"
            clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"

            [providers.pingbix-in.options]
            userid = "acme"
            password = "secret-password"
            senderid = "ACMEIN"
            """
        )
    )
    return path


def form(config_path, *extra: str) -> str:
    result = CliRunner().invoke(
        main, ["clevertap-config", "--config", str(config_path), "pingbix-in", *extra]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def printed_template(output: str) -> dict[str, object]:
    lines = output.splitlines()
    start = lines.index("      {")
    end = lines.index("      }", start)
    return json.loads("\n".join(lines[start : end + 1]))


def test_fields_come_in_the_order_of_clevertaps_form(config_path):
    output = form(config_path)
    steps = [
        "Settings > Engage > Channels > SMS > + Add Provider > Other (Generic)",
        "Provider              Other (Generic)",
        "Nickname              pingbix-in",
        "Callback URL",
        "Request Type          POST",
        "HTTP Endpoint         https://sms.example.com/clevertap/pingbix-in",
        "Authentication        No Authentication",
        "Headers               Authorization: Bearer ",
        "Content-Type: application/json",
        "Parameters            JSON",
        '"messages": [',
        "Batch                 checked",
        "key name            messages",
        "records per batch   1000",
        "Delivery report (DLR) URL to give the vendor (pingbix):",
        "https://sms.example.com/callbacks/pingbix-in/",
    ]
    positions = [output.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions, strict=True) if p == -1]
    assert positions == sorted(positions)


def test_json_template_parses_and_carries_all_six_placeholders_under_messages(config_path):
    template = printed_template(form(config_path))
    assert list(template) == ["messages"]
    records = template["messages"]
    assert isinstance(records, list) and len(records) == 1
    assert records[0] == PLACEHOLDERS


def test_tokens_are_hidden_unless_asked_for(config_path):
    hidden = form(config_path)
    assert TOKEN not in hidden and CALLBACK_TOKEN not in hidden
    assert "Authorization: Bearer <providers.pingbix-in.token>" in hidden
    assert "/callbacks/pingbix-in/<providers.pingbix-in.callback_token>" in hidden
    assert "--show-secrets" in hidden

    shown = form(config_path, "--show-secrets")
    assert f"Authorization: Bearer {TOKEN}" in shown
    assert f"https://sms.example.com/callbacks/pingbix-in/{CALLBACK_TOKEN}" in shown


def test_clevertap_callback_url_is_shown_where_to_copy_it(config_path):
    output = form(config_path)
    assert "providers.pingbix-in.clevertap_callback_url" in output
    assert "http://127.0.0.1:9/sms/generic?account=TEST" in output


def test_http_public_url_gets_a_warning_that_clevertap_needs_https(config_path):
    config_path.write_text(
        config_path.read_text().replace("https://sms.example.com/", "http://127.0.0.1:8000")
    )
    assert "CleverTap accepts only https:// endpoints" in form(config_path)


def test_unknown_nickname_exits_2_and_lists_the_configured_ones(config_path):
    result = CliRunner().invoke(
        main, ["clevertap-config", "--config", str(config_path), "pingbix-us"]
    )
    assert result.exit_code == 2
    assert "no provider 'pingbix-us'" in result.stderr
    assert "configured: pingbix-in" in result.stderr
