"""Checking the token CleverTap presents, in constant time."""

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


def require_token(request: Request, expected: SecretStr) -> None:
    """Raise a 401 unless the request carries ``expected``."""
    token = presented_token(request)
    if token is None or not hmac.compare_digest(token, expected.get_secret_value().encode()):
        raise RequestError(
            401,
            "missing or wrong token: send `Authorization: Bearer <token>` or Basic auth "
            "with the token as the password",
        )


def tokens_match(presented: str, expected: SecretStr) -> bool:
    """Constant-time comparison of a token found in a URL."""
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogateescape"), expected.get_secret_value().encode()
    )
