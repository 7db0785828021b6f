"""The ``[providers.<nickname>.options]`` table of a Pingbix nickname."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class PingbixOptions(BaseModel):
    """How to reach and use one Pingbix account."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://app.pingbix.com"
    userid: str
    password: SecretStr
    #: The DLT-registered header; a per-campaign ``senderid`` from CleverTap overrides it.
    senderid: str
    dlt_entity_id: str | None = None
    #: ``auto`` sends ``unicode`` when the text is not GSM-7.
    msg_type: Literal["auto", "text", "unicode"] = "auto"
    #: DLT template id -> template text with ``{#var#}`` slots, for records without a body.
    templates: dict[str, str] = Field(default_factory=dict)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=15.0, gt=0)
