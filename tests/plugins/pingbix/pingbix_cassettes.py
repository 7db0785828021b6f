"""Cassettes for the Pingbix plugin's tests: where they live and what is filtered out.

The fixtures here are bound into each test module (``vcr_config = pingbix_cassettes.vcr_config``)
rather than living in a ``conftest.py`` of this folder: test folders have no ``__init__.py``,
so a second ``conftest`` module would take the name ``conftest`` from the suite's own and
break ``from conftest import ServerThread`` everywhere.

Cassettes are ``cassettes/pingbix/<test module>/<test name>.yaml`` at the repository root,
replayed with record mode ``none`` (the default: no network, no sandbox needed) and matched
on method, path, query and body, so that a change to what we send fails the test. The host
and port are not matched: a cassette recorded against the sandbox on any port, or against
the real Pingbix, replays the same.

Before a request is stored (and before a live request is compared with stored ones), the
``userid`` and ``password`` fields are replaced by ``FILTERED`` (in multipart and urlencoded
bodies and in the query), the multipart boundary is replaced by a fixed one, and account
values given through ``PINGBIX_*`` variables for a recording against the real Pingbix are
swapped back to the stand-ins the tests use (see ``plugins/pingbix/README.md``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from smsgate_pingbix import api
from smsgate_pingbix.options import PingbixOptions

REPO = Path(__file__).resolve().parents[3]
CASSETTES = REPO / "cassettes" / "pingbix"
FILTERED = "FILTERED"
BOUNDARY = b"smsgate-cassette-boundary"

#: Where recordings go (``--record-mode=rewrite``): the sandbox by default.
BASE_URL = os.environ.get("PINGBIX_BASE_URL", "http://127.0.0.1:9090")

#: What the tests send, and the variable that replaces each for a real recording.
STAND_INS = {
    "PINGBIX_USERID": "demo",
    "PINGBIX_PASSWORD": "demo-password",
    "PINGBIX_SENDERID": "ACMEIN",
    "PINGBIX_DLT_ENTITY_ID": "1201159100000000000",
    "PINGBIX_DLT_TEMPLATE_ID": "1207161234567890123",
    "PINGBIX_TEST_MOBILE": "919876543210",
}


def account(name: str) -> str:
    """The value a test sends for ``name``: the real one when recording against Pingbix."""
    return os.environ.get(name) or STAND_INS[name]


def _swaps() -> list[tuple[bytes, bytes]]:
    # Real account values (set only while recording against Pingbix) -> the stand-ins. The
    # credentials are not swapped but blanked by field name, wherever else their text occurs.
    return [
        (os.environ[name].encode(), stand_in.encode())
        for name, stand_in in STAND_INS.items()
        if name not in ("PINGBIX_USERID", "PINGBIX_PASSWORD")
        and os.environ.get(name)
        and os.environ[name] != stand_in
    ]


def scrub_request(request: Any) -> Any:
    """Filter credentials and account values out of a vcr request (see module docstring)."""
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    content_type = request.headers.get("Content-Type", "") or request.headers.get(
        "content-type", ""
    )
    if body and content_type.startswith("multipart/form-data"):
        match = re.search(r"boundary=\"?([^\";]+)", content_type)
        if match:
            body = _scrub_multipart(body, match.group(1).encode())
            for key in [key for key in request.headers if key.lower() == "content-type"]:
                request.headers[key] = f"multipart/form-data; boundary={BOUNDARY.decode()}"
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        pairs = [
            (key, FILTERED if key in api.CREDENTIAL_PARAMS else value)
            for key, value in parse_qsl(body.decode(), keep_blank_values=True)
        ]
        body = urlencode(pairs).encode()
    if body:
        for real, stand_in in _swaps():
            body = body.replace(real, stand_in)
        request.body = body
    for real, stand_in in _swaps():
        request.uri = request.uri.replace(real.decode(), stand_in.decode())
    return request


def _scrub_multipart(body: bytes, boundary: bytes) -> bytes:
    delimiter = b"--" + boundary
    parts = body.split(delimiter)
    for index, part in enumerate(parts):
        head, separator, _content = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if separator and name and name.group(1).decode() in api.CREDENTIAL_PARAMS:
            parts[index] = head + separator + FILTERED.encode() + b"\r\n"
    return (b"--" + BOUNDARY).join(parts)


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Swap real account values (a real recording) for the stand-ins in a response body."""
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        for real, stand_in in _swaps():
            body = body.replace(real, stand_in)
        response["body"]["string"] = body
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    """Record mode comes from ``--record-mode`` (default ``none``), never from here."""
    return {
        "match_on": ("method", "path", "query", "body"),
        "filter_query_parameters": [(param, FILTERED) for param in api.CREDENTIAL_PARAMS],
        # The recorded length would tell how long the password is.
        "filter_headers": ["content-length"],
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """``cassettes/pingbix/<test module>/``."""
    return str(CASSETTES / request.path.stem)


@pytest.fixture
def options() -> PingbixOptions:
    """A Pingbix account as the tests use it: the sandbox's demo account by default."""
    return PingbixOptions(
        base_url=BASE_URL,
        userid=account("PINGBIX_USERID"),
        password=account("PINGBIX_PASSWORD"),
        senderid=account("PINGBIX_SENDERID"),
        dlt_entity_id=account("PINGBIX_DLT_ENTITY_ID"),
        templates={
            account("PINGBIX_DLT_TEMPLATE_ID"): "Your OTP is {#var#}. Valid for {#var#} min"
        },
    )
