"""Reading request bodies without trusting their size or their encoding.

Every text that comes out of here is valid UTF-8 (as ``str``): bytes that are not are a
400, never silently replaced, so what is stored is what CleverTap sent. The one exception is
asked for by name: a vendor's report query keeps such bytes as lone surrogates
(``undecodable="surrogateescape"``), for the report's own rules to judge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from smsgate.errors import RequestError

#: More fields than any CleverTap record has; a guard against hash-flooding style bodies.
MAX_FIELDS = 1000


async def read_body(request: Request, limit: int, *, deadline: float) -> bytes:
    """The whole body, or a 413 as soon as it grows past ``limit`` bytes.

    A body in a content coding (gzip, br …) is a 415: none is supported.

    :param deadline: seconds the whole body may take to arrive; then a 408.
    """
    coding = request.headers.get("content-encoding", "").strip().lower()
    if coding not in ("", "identity"):
        # Read as it is, a compressed body is garbage ("not UTF-8") or, worse, taken as text.
        raise RequestError(
            415, f"content coding {coding[:40]!r} is not supported; send the body uncompressed"
        )
    declared = request.headers.get("content-length")
    # A declared size over the limit is refused before a byte of the body is read.
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body is larger than {limit} bytes")
    chunks = bytearray()
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                chunks += chunk
                if len(chunks) > limit:
                    raise RequestError(413, f"the body is larger than {limit} bytes")
    except TimeoutError:
        raise RequestError(408, f"the body did not arrive within {deadline:g} s") from None
    except ClientDisconnect:
        raise RequestError(400, "the client went away before the body was complete") from None
    return bytes(chunks)


def media_type(request: Request) -> str:
    """The request's content type without parameters, in lower case."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def parse_query(
    raw: bytes,
    *,
    what: str = "query string",
    undecodable: Literal["strict", "surrogateescape"] = "strict",
) -> dict[str, str]:
    """Fields of a URL-encoded string; a repeated key keeps its last value.

    :param undecodable: ``"strict"``: bytes that are not UTF-8 are a 400;
        ``"surrogateescape"``: they are kept as lone surrogates, for the caller to judge
        (a delivery report escapes them in the fields nobody judges it by).
    """
    try:
        text = raw.decode("utf-8", undecodable)
        pairs = parse_qsl(
            text, keep_blank_values=True, errors=undecodable, max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise RequestError(400, f"the {what} is not valid UTF-8") from None
    except ValueError as exc:
        raise RequestError(400, f"the {what} cannot be parsed: {exc}") from None
    return dict(pairs)


def parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    """Text fields of a ``multipart/form-data`` body; a repeated name keeps its last value."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestError(400, "the multipart Content-Type has no boundary parameter")
    reader = _MultipartReader()
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": reader.on_part_begin,
                "on_part_data": reader.on_part_data,
                "on_part_end": reader.on_part_end,
                "on_header_field": reader.on_header_field,
                "on_header_value": reader.on_header_value,
                "on_header_end": reader.on_header_end,
                "on_headers_finished": reader.on_headers_finished,
                "on_end": reader.on_end,
            },
        )
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise RequestError(400, f"the multipart body cannot be parsed: {exc}") from None
    if not reader.ended:
        # The parser itself accepts a body cut short and would hand back the fields so far.
        raise RequestError(400, "the multipart body ends before its closing boundary")
    return reader.fields


@dataclass
class _MultipartReader:
    """Collects the parts the multipart parser reports, one field at a time."""

    fields: dict[str, str] = field(default_factory=dict)
    ended: bool = False
    _header_name: bytearray = field(default_factory=bytearray)
    _header_value: bytearray = field(default_factory=bytearray)
    _disposition: bytes = b""
    _data: bytearray = field(default_factory=bytearray)
    _count: int = 0

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name = bytearray()
        self._header_value = bytearray()

    def on_headers_finished(self) -> None:
        self._count += 1
        if self._count > MAX_FIELDS:
            raise RequestError(400, f"more than {MAX_FIELDS} fields in the multipart body")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def on_part_end(self) -> None:
        _, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if raw_name is None:
            raise RequestError(400, "a multipart part has no name in its Content-Disposition")
        name = _utf8(raw_name, "a multipart field name")
        if b"filename" in options:
            raise RequestError(400, f"field {name!r} is a file upload; send text fields only")
        self.fields[name] = _utf8(bytes(self._data), f"multipart field {name!r}")

    def on_end(self) -> None:
        self.ended = True


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, f"{what} is not valid UTF-8") from None
