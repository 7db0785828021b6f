"""The ``[providers.<nickname>.options]`` table of an Example SMS nickname.

**What a contributor changes here:** the settings an operator gives for one account of the
vendor. Keep ``extra="forbid"`` (a mistyped key must be an error) and type every secret
``SecretStr`` (it then prints as ``'**********'``); smsgate resolves ``{ env = "VAR" }``
values before this model sees them, so the plugin never reads the environment. A validator's
message must not quote the value it refuses: it may be a secret.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from smsgate_example_provider import api
from smsgate_example_provider.signatures import SignatureError, parse_secret

__all__ = ["ExampleOptions"]


class ExampleOptions(BaseModel):
    """How to reach and use one Example SMS account."""

    model_config = ConfigDict(extra="forbid")

    #: Where the API is; ``smsgate sandbox example_provider`` serves a stand-in for it.
    base_url: str = "https://api.example-sms.test"
    #: Sent as ``Authorization: Bearer <api_key>``.
    api_key: SecretStr
    #: The ``whsec_...`` secret the vendor signs delivery reports with.
    webhook_secret: SecretStr
    #: The sender id (DLT header in India).
    sender: str
    #: The DLT principal entity id, sent with every message when set.
    dlt_entity_id: str | None = None
    #: The most messages in one request; a larger group is split.
    max_batch: int = Field(default=100, ge=1, le=api.MAX_BATCH)
    #: Seconds to wait for a connection; past it the request never left and is retried.
    connect_timeout: float = Field(default=5.0, gt=0)
    #: Seconds to wait for the answer; past it the messages' fate is unknown.
    read_timeout: float = Field(default=15.0, gt=0)
    #: At most this many requests at once from one ``send_batch`` call.
    concurrency: int = Field(default=4, ge=1, le=100)
    #: How far a report's ``webhook-timestamp`` may be from our clock, in seconds.
    webhook_tolerance: float = Field(default=api.DEFAULT_TOLERANCE, ge=1, le=3600)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError("must be an http:// or https:// URL, like https://api.example.com")
        return value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr) -> SecretStr:
        try:
            parse_secret(value.get_secret_value())
        except SignatureError as exc:
            raise ValueError(exc.reason) from None
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty: give the sender id registered with the vendor")
        return value.strip()

    @property
    def signing_key(self) -> bytes:
        """The HMAC key inside :attr:`webhook_secret`."""
        return parse_secret(self.webhook_secret.get_secret_value())
