"""Reading request bodies without trusting their size or their encoding."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from urllib.parse import parse_qsl

from smsgate.errors import RequestError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 as soon as it grows past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body is larger than {limit} bytes")
    chunks = bytearray()
    try:
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > limit:
                raise RequestError(413, f"the body is larger than {limit} bytes")
    except ClientDisconnect:
        raise RequestError(400, "the client went away before the body was complete") from None
    return bytes(chunks)


def media_type(request: Request) -> str:
    """The request's content type without parameters, in lower case."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def parse_form(request: Request, body: bytes, *, multipart: bool) -> dict[str, str]:
    """The fields of a form or multipart body already read into ``body``."""

    if not multipart:
        return parse_query(body, what="form body")

    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(request.headers, replay(), max_files=0).parse()
    except MultiPartException as exc:
        raise RequestError(400, f"the multipart body cannot be parsed: {exc.message}") from None
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise RequestError(400, f"field {key!r} is a file upload; send text fields only")
        fields[key] = value
    return fields


def parse_query(raw: bytes, *, what: str = "query string") -> dict[str, str]:
    """Fields of a URL-encoded string that must be UTF-8; a repeated key keeps its last value."""
    try:
        text = raw.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=1000))
    except UnicodeDecodeError:
        raise RequestError(400, f"the {what} is not valid UTF-8") from None
    except ValueError as exc:
        raise RequestError(400, f"the {what} cannot be parsed: {exc}") from None
