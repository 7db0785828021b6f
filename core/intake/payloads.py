"""Reading CleverTap's request bodies into flat records.

CleverTap's "Other (Generic)" provider sends one record per request (JSON, form, multipart
or a GET query) or, with batching on, ``{"messages": [record, ...], <global keys>}``. Every
record comes out as a mapping of key to scalar, with the global keys filled in where the
record does not set them itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from smsgate.errors import RequestError

BATCH_KEY = "messages"
MAX_RECORDS = 1000

JSON_TYPES = frozenset({"application/json", "text/json"})
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


def records_from_json(body: bytes) -> list[dict[str, Any]]:
    """The records of a JSON body, single or batched."""
    if not body.strip():
        raise RequestError(400, "the body is empty; send a JSON object with at least `to`")
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not valid UTF-8") from None
    except RecursionError:
        raise RequestError(400, "the JSON is nested too deeply") from None
    except ValueError as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError(400, f"the JSON body must be an object, not {_json_type(document)}")
    if BATCH_KEY not in document:
        return [document]
    batch = document[BATCH_KEY]
    if not isinstance(batch, list):
        raise RequestError(400, f"`{BATCH_KEY}` must be an array of records")
    if len(batch) > MAX_RECORDS:
        raise RequestError(
            413, f"{len(batch)} records in one request; send at most {MAX_RECORDS} per batch"
        )
    shared = {key: value for key, value in document.items() if key != BATCH_KEY}
    return [
        {**shared, **record} if isinstance(record, dict) else {"__not_an_object__": record}
        for record in batch
    ]


def record_from_pairs(pairs: Mapping[str, str]) -> list[dict[str, Any]]:
    """The single record of a form, multipart body or query string."""
    if not pairs:
        raise RequestError(400, "no fields were sent; send at least `to`")
    return [dict(pairs)]


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
