"""example_provider: the starting point for a new vendor plugin.

Copy this folder, rename the package and the entry point, and fill in each hook.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

from smsgate import hookimpl


class ExampleOptions(BaseModel):
    """Options of the example vendor: where its API is and the key to use."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://api.example-sms.test"
    api_key: SecretStr


@hookimpl
def options_model() -> type[BaseModel]:
    """The example vendor's options."""
    return ExampleOptions
