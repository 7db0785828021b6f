"""Standard Webhooks signatures (spec v1): signing and verifying a delivery report.

**What a contributor changes here:** usually nothing. A vendor that signs the Standard
Webhooks way needs only the header names in :mod:`~smsgate_example_provider.api`. A vendor
with its own scheme (Stripe's ``t=...,v1=...``, Twilio's URL-and-form HMAC) gets its own
:func:`sign` and :func:`verify` here; keep the three rules below whatever the scheme.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}`` over the **raw body bytes
as received** (a body parsed and serialised again no longer matches). The signature header
is a space-separated list of ``v1,<base64 HMAC-SHA256>`` entries, so that a vendor rotating
its secret can send old and new signatures side by side; entries of other versions are
skipped. The rules:

1. compare digests in constant time (:func:`hmac.compare_digest`), bytes to bytes;
2. refuse a timestamp further than the tolerance from our clock, either way (replay);
3. never put the secret or the expected signature into an error or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from smsgate_example_provider import api

__all__ = ["SignatureError", "parse_secret", "sign", "verify"]

#: The spec's bounds on a signing key: 24 to 64 bytes (192 to 512 bits).
_MIN_KEY, _MAX_KEY = 24, 64
_MAX_ID = 256


class SignatureError(Exception):
    """A report's signature cannot be accepted; ``reason`` says why, without secrets."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def parse_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret; :class:`SignatureError` if malformed."""
    if not secret.startswith(api.SECRET_PREFIX):
        raise SignatureError(f"must start with {api.SECRET_PREFIX} (copy it whole from the vendor)")
    try:
        key = base64.b64decode(secret.removeprefix(api.SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"is not {api.SECRET_PREFIX} followed by base64") from None
    if not _MIN_KEY <= len(key) <= _MAX_KEY:
        raise SignatureError(f"must hold {_MIN_KEY} to {_MAX_KEY} bytes of key after base64")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for ``body`` sent as ``webhook_id`` at ``timestamp``."""
    digest = _digest(key, webhook_id, timestamp, body)
    return f"{api.SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(
    headers: Mapping[str, str], body: bytes, key: bytes, *, now: float, tolerance: float
) -> str:
    """Check a report's signature headers (lower-case names); return its ``webhook-id``.

    :param now: our clock, epoch seconds.
    :param tolerance: how far the timestamp may be from ``now``, either way, in seconds.
    :raises SignatureError: a header is missing or malformed, the timestamp is outside the
        tolerance, or no ``v1`` signature matches.
    """
    webhook_id = _header(headers, api.HEADER_ID)
    stamp = _header(headers, api.HEADER_TIMESTAMP)
    listed = _header(headers, api.HEADER_SIGNATURE)
    if len(webhook_id) > _MAX_ID or "." in webhook_id or not webhook_id.isprintable():
        raise SignatureError(f"the {api.HEADER_ID} header is malformed")
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise SignatureError(f"the {api.HEADER_TIMESTAMP} header is not epoch seconds")
    timestamp = int(stamp)
    if timestamp < now - tolerance:
        raise SignatureError(f"the {api.HEADER_TIMESTAMP} is too old (a replayed report?)")
    if timestamp > now + tolerance:
        raise SignatureError(f"the {api.HEADER_TIMESTAMP} is in the future (check the clocks)")
    expected = _digest(key, webhook_id, timestamp, body)
    matched = False
    for entry in listed.split():
        version, _, encoded = entry.partition(",")
        if version != api.SIGNATURE_VERSION:
            continue
        try:
            presented = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Every entry is compared, so the time taken does not tell which one matched.
        matched |= hmac.compare_digest(presented, expected)
    if not matched:
        raise SignatureError(f"no {api.SIGNATURE_VERSION} signature matches the body")
    return webhook_id


def _digest(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise SignatureError(f"the {name} header is missing")
    return value
