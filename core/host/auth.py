"""Checking tokens in constant time: CleverTap's, the vendors' callback tokens, the admin's.

Every comparison of a secret in the gateway goes through :func:`same_secret`, so that none
takes a time that tells how much of a guess was right (tests/host/test_token_comparison.py
keeps it so).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from pydantic import SecretStr
from starlette.requests import Request

from smsgate.errors import RequestError


def presented_token(request: Request) -> bytes | None:
    """The token in ``Authorization``: a Bearer token, or the password of Basic auth."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        # Starlette decodes header bytes as latin-1: encoding back gives the bytes as sent.
        return credentials.strip().encode("latin-1")
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        # CleverTap's Basic option sends a username too; only the password is the token.
        _, _, password = decoded.partition(b":")
        return password
    return None


def same_secret(presented: str | bytes, expected: str | bytes | SecretStr) -> bool:
    """Whether ``presented`` is ``expected``, in a time that does not depend on where they
    differ. Text is compared as its UTF-8 bytes; a lone surrogate (possible in a decoded URL)
    is kept as bytes that match nothing rather than raising."""
    if isinstance(expected, SecretStr):
        expected = expected.get_secret_value()
    return hmac.compare_digest(_bytes(presented), _bytes(expected))


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def require_token(request: Request, expected: SecretStr) -> None:
    """Raise a 401 unless the request carries ``expected``."""
    token = presented_token(request)
    if token is None or not same_secret(token, expected):
        raise RequestError(
            401,
            "missing or wrong token: send `Authorization: Bearer <token>` or Basic auth "
            "with the token as the password",
        )
