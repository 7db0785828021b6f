"""The admin API's OpenAPI 3.1 document, built from the same table as its routes.

Paths and parameters come from :data:`smsgate.host.api.OPERATIONS`; the schemas of bodies
and answers are generated from the pydantic models in :mod:`smsgate.admin.views`, so the
document describes exactly what the code accepts and answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from smsgate.admin.views import ErrorBody

if TYPE_CHECKING:
    from smsgate.host.api import Operation

__all__ = ["document"]

_REF = "#/components/schemas/{model}"
_STATUS_WORDS = {
    200: "Done",
    400: "A parameter or the body is wrong; the error names it",
    401: "No admin token, or a wrong one",
    404: "No such row, or the admin API is off",
    409: "The row's state does not allow this; the error says why and what to do",
    429: "Too many wrong tokens from this address: try again after Retry-After seconds",
    503: "The database did not answer; try again",
}


def document(operations: Sequence[Operation]) -> dict[str, Any]:
    """The OpenAPI document for ``operations``."""
    models: list[type[BaseModel]] = [ErrorBody]
    for operation in operations:
        for model in (operation.answer, operation.body):
            if model is not None and model not in models:
                models.append(model)
    keyed, schemas = models_json_schema(
        [
            (model, "validation" if _is_body(model, operations) else "serialization")
            for model in models
        ],
        ref_template=_REF,
    )
    refs: dict[Any, str] = {model: keyed[(model, mode)]["$ref"] for (model, mode) in keyed}
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsgate admin API",
            "version": "1",
            "description": (
                "Search messages and their delivery, retry or cancel them, and handle records "
                "CleverTap refused. Every route but this document needs the admin token "
                "([gateway] admin_token) as a Bearer token. Secrets never appear in answers."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"adminToken": []}],
    }


def _is_body(model: type[BaseModel], operations: Sequence[Operation]) -> bool:
    return any(operation.body is model for operation in operations)


def _operation(operation: Operation, refs: dict[Any, str]) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": refs[ErrorBody]}}}
    answer: dict[str, Any] = {"description": _STATUS_WORDS[200]}
    if operation.answer is not None:
        answer["content"] = {"application/json": {"schema": {"$ref": refs[operation.answer]}}}
    else:
        answer["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {"200": answer}
    codes = set(operation.refusals) | ({401, 429, 503} if not operation.public else set())
    for code in sorted(codes):
        responses[str(code)] = {"description": _STATUS_WORDS[code], "content": error}
    if "429" in responses:
        retry_after = {"schema": {"type": "integer", "minimum": 1}}
        responses["429"]["headers"] = {"Retry-After": retry_after}
    described: dict[str, Any] = {
        "operationId": operation.handler.__name__,
        "summary": operation.summary,
        "description": operation.description,
        "responses": responses,
    }
    if operation.public:
        described["security"] = []
    if operation.parameters:
        described["parameters"] = [
            {
                "name": parameter.name,
                "in": parameter.where,
                "required": parameter.where == "path",
                "description": parameter.description,
                "schema": dict(parameter.schema),
            }
            for parameter in operation.parameters
        ]
    if operation.body is not None:
        described["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"$ref": refs[operation.body]}}},
        }
    return described
