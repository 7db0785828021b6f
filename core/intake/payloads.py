"""Reading CleverTap's request bodies into flat records.

CleverTap's "Other (Generic)" provider sends one record per request (JSON, form, multipart
or a GET query) or, with batching on, ``{"messages": [record, ...], <global keys>}``. Every
record comes out as decoded, with the global keys filled in where the record does not set
them itself; :mod:`smsgate.intake.records` judges each one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

from smsgate.errors import RequestError
from smsgate.intake.records import MAX_EXTRAS, extras_size, json_type, unfilled

BATCH_KEY = "messages"
MAX_RECORDS = 1000

JSON_TYPES = frozenset({"application/json", "text/json"})
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


def records_from_json(body: bytes) -> list[object]:
    """The records of a JSON body, single or batched.

    An entry of ``messages`` that is not an object is passed on as it is, so that it is
    rejected by its index like any other bad record instead of failing the whole batch.
    """
    try:
        # json.loads would also guess UTF-16 and UTF-32 and let encoded surrogates through.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not valid UTF-8") from None
    if not text.strip():
        raise RequestError(400, "the body is empty; send a JSON object with at least `to`")
    try:
        document = json.loads(text)
    except RecursionError:
        raise RequestError(400, "the JSON is nested too deeply") from None
    except ValueError as exc:
        if "int_max_str_digits" in str(exc):
            # Python's own words would point the client at a Python setting.
            raise RequestError(
                400, f"the JSON holds a number of more than {sys.get_int_max_str_digits()} digits"
            ) from None
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError(400, f"the JSON body must be an object, not {json_type(document)}")
    if BATCH_KEY not in document:
        return [document]
    batch = document[BATCH_KEY]
    if not isinstance(batch, list):
        raise RequestError(400, f"`{BATCH_KEY}` must be an array of records")
    if not batch:
        raise RequestError(400, f"`{BATCH_KEY}` is an empty array; send at least one record")
    if len(batch) > MAX_RECORDS:
        raise RequestError(
            413, f"{len(batch)} records in one request; send at most {MAX_RECORDS} per batch"
        )
    shared = {key: value for key, value in document.items() if key != BATCH_KEY}
    if not shared:
        return list(batch)
    # Copied into each of up to a thousand records: a few kilobytes of global keys would
    # be stored a thousand times over.
    try:
        size = extras_size(shared)
    except RecursionError:
        raise RequestError(400, "the global keys are nested too deeply") from None
    if size > MAX_EXTRAS:
        raise RequestError(
            400,
            f"the global keys beside `{BATCH_KEY}` take {size} characters, and every record "
            f"would keep a copy; at most {MAX_EXTRAS} are allowed",
        )
    return [_with_globals(shared, record) for record in batch]


def _with_globals(shared: Mapping[str, object], record: object) -> object:
    """``record`` with the global keys it does not set itself; null or "" sets nothing."""
    if not isinstance(record, dict):
        return record
    merged = {**shared, **record}
    for key, value in shared.items():
        if merged[key] is None or merged[key] == "" or unfilled(merged[key]):
            merged[key] = value
    return merged


def record_from_pairs(pairs: Mapping[str, str], *, url_encoded: bool = True) -> list[object]:
    """The single record of a form, multipart body or query string.

    :param url_encoded: the pairs were URL-encoded (a query, a form), where ``+`` means a
        space; not so in a multipart body.
    """
    if not pairs:
        raise RequestError(400, "no fields were sent; send at least `to`")
    record = dict(pairs)
    to = record.get("to")
    if url_encoded and to is not None and to[:1] == " " and to[1:2].isdigit():
        # `?to=+9198…` with the plus left unencoded: form encoding reads it as a space.
        record["to"] = "+" + to[1:]
    return [record]
