"""Cassettes for example_provider's tests: where they live, and the account the tests use.

Bound into each test module (``vcr_config = example_cassettes.vcr_config``) rather than put in
a ``conftest.py`` of this folder: test folders have no ``__init__.py``, so a second
``conftest`` module would shadow the suite's own.

Cassettes are ``cassettes/example_provider/<test module>/<test name>.yaml`` at the repository
root, recorded over real HTTP from the plugin's sandbox and replayed with record mode ``none``.
The vcr settings are smsgate's own for plugin authors (``smsgate_vcr_config``): matched on
method, path, query and body; the ``Authorization`` header stored as ``FILTERED``. To
re-record (see ``plugins/example_provider/README.md``)::

    .venv/bin/smsgate sandbox example_provider --port 9092 --delay 0 --seed 20261125 &
    .venv/bin/pytest tests/plugins/example_provider -m vcr --record-mode=rewrite
    kill %1
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from smsgate_example_provider.options import ExampleOptions
from smsgate_example_provider.sandbox import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET

REPO = Path(__file__).resolve().parents[3]
CASSETTES = REPO / "cassettes" / "example_provider"

#: Where recordings go (``--record-mode=rewrite``): the sandbox.
BASE_URL = os.environ.get("EXAMPLE_SMS_BASE_URL", "http://127.0.0.1:9092")
ENTITY_ID = "1201159100000000000"
TEMPLATE_ID = "1207161234567890123"


@pytest.fixture(scope="module")
def vcr_config(smsgate_vcr_config: dict[str, Any]) -> dict[str, Any]:
    """smsgate's vcr settings for plugin authors, unchanged."""
    return smsgate_vcr_config


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """``cassettes/example_provider/<test module>/``."""
    return str(CASSETTES / request.path.stem)


@pytest.fixture
def options() -> ExampleOptions:
    """The sandbox's account."""
    return ExampleOptions(
        base_url=BASE_URL,
        api_key=DEFAULT_API_KEY,
        webhook_secret=DEFAULT_WEBHOOK_SECRET,
        sender="ACMEIN",
        dlt_entity_id=ENTITY_ID,
    )
