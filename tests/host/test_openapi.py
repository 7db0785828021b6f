"""The OpenAPI document: valid OpenAPI 3.1, and exactly the /api routes the app serves."""

from __future__ import annotations

import re

import httpx
from conftest import ServerThread
from openapi_spec_validator import validate

from smsgate.host.app import create_app


def api_routes(app):
    found = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/api/"):
            for method in route.methods - {"HEAD"}:
                found.add((method.lower(), re.sub(r":\w+}", "}", path)))
    return found


def test_the_document_is_valid_openapi_and_matches_every_api_route(make_config, database_url):
    app = create_app(make_config(database_url))
    with ServerThread(app) as server:
        answer = httpx.get(f"{server.url}/api/openapi.json")

    document = answer.json()
    validate(document)
    documented = {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == api_routes(app)
    schemas = document["components"]["schemas"]
    assert {"MessagePage", "MessageDetail", "ActionResult", "Overview", "ErrorBody"} <= set(schemas)
    retry = document["paths"]["/api/messages/{id}/retry"]["post"]
    assert retry["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RetryRequest"
    }
    assert {"401", "404", "409"} <= set(retry["responses"])
