"""Form, query and multipart bodies decoded strictly as UTF-8."""

from __future__ import annotations

import pytest

from smsgate.errors import RequestError
from smsgate.host.bodies import MAX_FIELDS, parse_multipart, parse_query

CONTENT_TYPE = "multipart/form-data; boundary=b0undary"


def multipart(*parts: bytes) -> bytes:
    return b"".join(b"--b0undary\r\n" + part + b"\r\n" for part in parts) + b"--b0undary--\r\n"


def field(name: bytes, value: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value


def test_query_fields_are_decoded_and_the_last_of_a_repeated_key_wins():
    assert parse_query(b"to=%2B91+98765&body=a%26b&to=2&empty=") == {
        "to": "2",
        "body": "a&b",
        "empty": "",
    }


def test_query_with_invalid_utf8_or_too_many_fields_is_refused():
    with pytest.raises(RequestError, match="not valid UTF-8"):
        parse_query(b"body=%FF")
    with pytest.raises(RequestError, match="not valid UTF-8"):
        parse_query(b"body=\xff")
    with pytest.raises(RequestError, match="cannot be parsed"):
        parse_query("&".join(f"k{i}=v" for i in range(MAX_FIELDS + 1)).encode())


def test_multipart_text_fields_are_read_as_utf8():
    body = multipart(
        field(b"to", b"+919876543210"),
        field("bödy".encode(), "line 1\r\nline 2 😀".encode()),
        field(b"empty", b""),
    )

    assert parse_multipart(CONTENT_TYPE, body) == {
        "to": "+919876543210",
        "bödy": "line 1\r\nline 2 😀",
        "empty": "",
    }


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        ("multipart/form-data", multipart(field(b"to", b"1")), "boundary"),
        (CONTENT_TYPE, multipart(field(b"to", b"\xff")), "multipart field 'to' is not valid UTF-8"),
        (CONTENT_TYPE, multipart(field(b"\xff", b"1")), "field name is not valid UTF-8"),
        (CONTENT_TYPE, multipart(field(b"to", b"1"))[:-20], "closing boundary"),
        (CONTENT_TYPE, b"", "closing boundary"),
        (CONTENT_TYPE, multipart(b"Content-Disposition: form-data\r\n\r\nx"), "no name"),
        (
            CONTENT_TYPE,
            multipart(b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nx'),
            "file upload",
        ),
        (CONTENT_TYPE, b"garbage without boundaries", "cannot be parsed"),
        (
            CONTENT_TYPE,
            multipart(*[field(b"k%d" % i, b"v") for i in range(MAX_FIELDS + 1)]),
            "more than 1000 fields",
        ),
    ],
    ids=[
        "no-boundary",
        "latin1-value",
        "latin1-name",
        "truncated",
        "empty",
        "no-name",
        "file",
        "garbage",
        "too-many-fields",
    ],
)
def test_unusable_multipart_bodies_are_refused_with_a_reason(content_type, body, fragment):
    with pytest.raises(RequestError) as refused:
        parse_multipart(content_type, body)

    assert refused.value.status_code == 400
    assert fragment in refused.value.message
