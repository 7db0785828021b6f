"""What to type into CleverTap's "Other (Generic)" SMS provider form, field by field."""

from __future__ import annotations

import json

from smsgate.config import Config, Provider
from smsgate.intake.payloads import BATCH_KEY, MAX_RECORDS

PLACEHOLDERS = {
    "to": "$$To",
    "body": "$$Body",
    "template_id": "$$TemplateID",
    "template_variables": "$$TemplateVariables",
    "campaign_id": "$$CampaignID",
    "message_id": "$$MessageID",
}


def payload_template() -> str:
    """The JSON template with every placeholder, one record under the batch key."""
    return json.dumps({BATCH_KEY: [PLACEHOLDERS]}, indent=2)


def clevertap_form(config: Config, provider: Provider, *, show_secrets: bool) -> str:
    """The form, in the order of CleverTap's own steps."""
    public_url = config.settings.gateway.public_url
    nickname = provider.nickname
    if show_secrets:
        token = provider.settings.token.get_secret_value()
        callback_token = provider.settings.callback_token.get_secret_value()
    else:
        token = f"<providers.{nickname}.token>"
        callback_token = f"<providers.{nickname}.callback_token>"
    template = "\n".join("    " + line for line in payload_template().splitlines())
    lines = [
        f"CleverTap setup for {nickname!r} (plugin {provider.settings.plugin!r})",
        "",
        "In CleverTap: Settings > Engage > Channels > SMS > + Add Provider",
        "",
        "  Provider         Other (Generic)",
        f"  Nickname         {nickname}",
        "  Callback URL     leave CleverTap's default; copy it into smsgate.toml as",
        f"                   providers.{nickname}.clevertap_callback_url (now: "
        f"{provider.settings.clevertap_callback_url})",
        "  Request Type     POST",
        f"  HTTP Endpoint    {public_url}/clevertap/{nickname}",
        "  Authentication   No Authentication (the token travels in the header below;",
        "                   Basic Authentication with the token as password works too)",
        "  Headers          Authorization: Bearer " + token,
        "                   Content-Type: application/json",
        "  Parameters       JSON, with this payload:",
        template,
        f"  Batch            on; key name: {BATCH_KEY}; records per batch: {MAX_RECORDS}",
        "",
        "Save, then use Send Test SMS: the test message appears in the smsgate log.",
        "",
        f"Delivery report URL to give the vendor ({provider.settings.plugin}):",
        f"  {public_url}/callbacks/{nickname}/{callback_token}",
    ]
    if not show_secrets:
        lines += ["", "Secrets are shown as <key>; run again with --show-secrets to print them."]
    return "\n".join(lines)
