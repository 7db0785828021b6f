"""The ``[providers.<nickname>.options]`` table of a Pingbix nickname."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from smsgate_pingbix.api import DEFAULT_TIMEZONE

_CLEVERTAP_CODE = re.compile(r"9(0\d|1[02-9]|20)")


class PingbixOptions(BaseModel):
    """How to reach and use one Pingbix account."""

    model_config = ConfigDict(extra="forbid")

    #: Where Pingbix's API is; ``smsgate sandbox pingbix`` serves a stand-in for it.
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
    #: Seconds to wait for a connection; past it the request never left and is retried.
    connect_timeout: float = Field(default=5.0, gt=0)
    #: Seconds to wait for Pingbix's answer; past it the message's fate is unknown.
    read_timeout: float = Field(default=15.0, gt=0)
    #: At most this many requests to Pingbix at once from one ``send_batch`` call.
    concurrency: int = Field(default=10, ge=1, le=100)
    #: The IANA time zone Pingbix writes delivery report times in (they carry no zone).
    timezone: str = DEFAULT_TIMEZONE
    #: Pingbix ``ErrorCode`` -> CleverTap code ("900" to "920"), for failed reports that
    #: come without a ``Status`` or with a generic one (FAILED, REJECTD, UNKNOWN); an
    #: unmapped code is reported as 900.
    error_codes: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError("must be an http:// or https:// URL, like https://app.pingbix.com")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "is not a time zone this machine knows: use an IANA name such as "
                "Asia/Kolkata (pip install tzdata where the system has no zone database)"
            ) from None
        return value

    @field_validator("error_codes")
    @classmethod
    def _clevertap_codes(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(key for key, code in value.items() if not _CLEVERTAP_CODE.fullmatch(code))
        if wrong:
            raise ValueError(
                f"the codes for {', '.join(wrong)} are not CleverTap codes; "
                'use "900" to "920" (there is no 911)'
            )
        return {key.strip(): code for key, code in value.items()}

    @property
    def zone(self) -> ZoneInfo:
        """:attr:`timezone` as a zone."""
        return ZoneInfo(self.timezone)
