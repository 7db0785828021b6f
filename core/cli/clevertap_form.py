"""What to type into CleverTap's "Other (Generic)" SMS provider form, field by field.

The fields come in the order CleverTap's form shows them (Settings > Engage > Channels >
SMS > + Add Provider > Other (Generic)), so the operator can copy them top to bottom.
"""

from __future__ import annotations

import json

from smsgate.config import Config, Provider
from smsgate.intake.payloads import BATCH_KEY, MAX_RECORDS

#: The canonical record keys and the CleverTap placeholder that fills each.
PLACEHOLDERS = {
    "to": "$$To",
    "body": "$$Body",
    "template_id": "$$TemplateID",
    "template_variables": "$$TemplateVariables",
    "campaign_id": "$$CampaignID",
    "message_id": "$$MessageID",
}

_LABEL_WIDTH = 22


def payload_template() -> str:
    """The JSON template with every placeholder, one record under the batch key."""
    return json.dumps({BATCH_KEY: [PLACEHOLDERS]}, indent=2)


def clevertap_form(config: Config, provider: Provider, *, show_secrets: bool) -> str:
    """The form, in the order of CleverTap's own steps."""
    public_url = config.settings.gateway.public_url
    nickname = provider.nickname
    settings = provider.settings
    if show_secrets:
        token = settings.token.get_secret_value()
        callback_token = settings.callback_token.get_secret_value()
    else:
        token = f"<providers.{nickname}.token>"
        callback_token = f"<providers.{nickname}.callback_token>"

    lines = [
        f"CleverTap setup for provider {nickname!r} (plugin {settings.plugin!r})",
        "",
        "In CleverTap: Settings > Engage > Channels > SMS > + Add Provider > Other (Generic)",
        "",
    ]

    def field(label: str, *values: str) -> None:
        first, *rest = values
        lines.append(f"  {label:<{_LABEL_WIDTH}}{first}")
        lines.extend(f"  {'':<{_LABEL_WIDTH}}{value}" for value in rest)

    field("Provider", "Other (Generic)")
    field("Nickname", nickname)
    field(
        "Callback URL",
        "keep CleverTap's default, and copy it into the config file as",
        f"providers.{nickname}.clevertap_callback_url",
        f"(it is now {settings.clevertap_callback_url})",
    )
    field("Request Type", "POST")
    field("HTTP Endpoint", f"{public_url}/clevertap/{nickname}")
    field(
        "Authentication",
        "No Authentication (the token goes in the Authorization header below;",
        "Basic Authentication with any username and the token as password also works)",
    )
    field("Headers", f"Authorization: Bearer {token}", "Content-Type: application/json")
    field("Parameters", "JSON; paste this payload:")
    lines.extend("      " + line for line in payload_template().splitlines())
    field("Batch", "checked")
    field("  key name", BATCH_KEY)
    field("  records per batch", str(MAX_RECORDS))
    field(
        "Custom key-value",
        "optional: any other key you add to the record (for example senderid)",
        f"is passed to the {settings.plugin} plugin with the message",
    )
    lines += [
        "",
        "Save, then use Send Test SMS: the message appears in smsgate's log and database.",
        "",
        f"Delivery report (DLR) URL to give the vendor ({settings.plugin}):",
        f"  {public_url}/callbacks/{nickname}/{callback_token}",
    ]
    if not public_url.startswith("https://"):
        lines += [
            "",
            f"Note: CleverTap accepts only https:// endpoints; gateway.public_url is {public_url}.",
            "Put smsgate behind a TLS proxy and set public_url to its https:// address.",
        ]
    if not show_secrets:
        lines += ["", "Secrets are shown as <key>; run again with --show-secrets to print them."]
    return "\n".join(lines)
