"""The admin API against its own OpenAPI document, with requests schemathesis generates.

A live gateway on loopback (on SQLite, then on PostgreSQL, with a few messages stored)
answers every generated request, authenticated with the admin token: never a 5xx, and every
answer (status, content type, body) is one the document describes.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from conftest import PINGBIX_PROVIDER, TOKEN, ServerThread, fresh_postgres_database
from hypothesis import HealthCheck, given, settings

from smsgate.admin.queries import encode_cursor
from smsgate.config import load_config
from smsgate.host.api import OPERATIONS
from smsgate.host.app import create_app
from smsgate.plugins import PluginSet

ADMIN_TOKEN = "admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = (
    f"""
[gateway]
database_url = "{{url}}"
public_url = "https://sms.example.com"
admin_token = "{ADMIN_TOKEN}"

[gateway.dispatch]
enabled = false

[gateway.delivery]
enabled = false
"""
    + PINGBIX_PROVIDER
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of its own for this module's gateway: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'smsgate.db'}"
        return
    with fresh_postgres_database("smsgate_api") as url:
        yield url


@pytest.fixture(scope="module")
def api_server(
    tmp_path_factory: pytest.TempPathFactory, plugins: PluginSet, api_database_url: str
) -> Iterator[ServerThread]:
    """One gateway for every generated request, holding accepted and rejected messages."""
    path = tmp_path_factory.mktemp("schemathesis-config") / "smsgate.toml"
    path.write_text(CONFIG.format(url=api_database_url))
    with ServerThread(create_app(load_config(path, plugins))) as server:
        records = [
            {"to": "+91 98765 4321" + str(n), "body": f"<b>hi</b> {n}", "message_id": f"m.{n}."}
            for n in range(5)
        ]
        records.append({"to": "12", "body": "too short a number", "message_id": "bad."})
        answer = httpx.post(
            f"{server.url}/clevertap/pingbix-in",
            json={"messages": records, "campaign_id": "c-1"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.status_code == 202, answer.text
        yield server


@pytest.fixture(scope="module")
def api_schema(api_server: ServerThread) -> schemathesis.BaseSchema:
    """The document the running gateway serves."""
    return schemathesis.openapi.from_url(f"{api_server.url}/api/openapi.json")


# schemathesis' own pytest integration does not run on this pytest; its hypothesis
# strategies do, one test per operation of the document.
@pytest.mark.parametrize(
    ("method", "path"), [(operation.method, operation.path) for operation in OPERATIONS]
)
def test_every_generated_admin_request_is_answered_as_the_document_says(
    api_schema: schemathesis.BaseSchema, api_server: ServerThread, method: str, path: str
) -> None:
    operation = api_schema[path][method]

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def answered_as_documented(case: schemathesis.Case) -> None:
        if case.query and "cursor" in case.query:
            # A cursor is opaque: only one this API gave out is valid, and any other is a
            # documented 400. Generated ones stand for a real cursor near the stored rows.
            case.query["cursor"] = encode_cursor(len(str(case.query["cursor"])) + 1)
        case.call_and_validate(base_url=api_server.url, headers=AUTH)

    answered_as_documented()
