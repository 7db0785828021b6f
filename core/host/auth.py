"""Checking tokens in constant time: CleverTap's, the vendors' callback tokens, the admin's.

Every comparison of a secret in the gateway goes through :func:`same_secret`, so that none
takes a time that tells how much of a guess was right (tests/host/test_token_comparison.py
keeps it so).

The admin token's two doors (the dashboard's login and the admin API) also count wrong
tokens per client address (:class:`FailureLimiter`): an address that got
:data:`FAILURE_LIMIT` wrong within :data:`FAILURE_WINDOW` seconds is refused with a 429 and
``Retry-After`` until the oldest of them is that old. The count lives in the memory of each
process, so N gateway processes behind a load balancer allow up to N times as many guesses.
The address is the one uvicorn reports: behind a proxy, that is the client's only when the
proxy's address is trusted for ``X-Forwarded-For`` (uvicorn's ``FORWARDED_ALLOW_IPS``);
otherwise every client shares the proxy's address, and its count.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from pydantic import SecretStr
from starlette.requests import Request

from smsgate.errors import RequestError

#: Wrong admin tokens one client address may send within :data:`FAILURE_WINDOW` seconds.
FAILURE_LIMIT = 20
#: Seconds a wrong admin token counts against its address.
FAILURE_WINDOW = 60.0
#: Addresses remembered at once: a flood of addresses forgets the oldest, never grows memory.
MAX_CLIENTS = 4096


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


class FailureLimiter:
    """Wrong tokens per client address, in this process's memory, within a sliding window.

    An address with ``limit`` failures in the last ``window`` seconds must wait until the
    oldest of them is ``window`` old; while it waits its token is not even checked, since
    answering "wrong" or "right" would let the guessing go on at full speed. Successes are
    neither counted nor refused otherwise. At most ``max_clients`` addresses are kept: the
    one whose last failure is oldest goes first, so memory stays under ``max_clients *
    limit`` timestamps. Used from the event loop only, so it needs no lock.
    """

    def __init__(
        self,
        limit: int = FAILURE_LIMIT,
        window: float = FAILURE_WINDOW,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        # Ordered by last failure, oldest first: expired and evicted entries are at the front.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, client: str) -> int:
        """Whole seconds ``client`` must wait before its next try; 0 when it may try now."""
        times = self._failures.get(client)
        if times is None or len(times) < self.limit:
            return 0
        left = times[0] + self.window - self._clock()
        return math.ceil(left) if left > 0 else 0

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client``."""
        now = self._clock()
        self._forget_before(now - self.window)
        times = self._failures.pop(client, None) or deque(maxlen=self.limit)
        times.append(now)
        self._failures[client] = times
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._failures)

    def _forget_before(self, moment: float) -> None:
        while self._failures:
            times = next(iter(self._failures.values()))
            if times[-1] > moment:
                return
            self._failures.popitem(last=False)


def client_address(request: Request) -> str:
    """The address the request came from, as the server saw it ("" when unknown)."""
    return request.client.host if request.client else ""


def failure_limiter(request: Request) -> FailureLimiter:
    """The limiter of the app serving ``request``, made on first use (one per process)."""
    state = request.app.state
    limiter = getattr(state, "admin_token_failures", None)
    if not isinstance(limiter, FailureLimiter):
        limiter = FailureLimiter()
        state.admin_token_failures = limiter
    return limiter


def failures_wait(request: Request) -> int:
    """Seconds the request's address must wait before its admin token is checked; 0: now."""
    return failure_limiter(request).wait(client_address(request))


def count_failure(request: Request) -> None:
    """Count a wrong admin token against the request's address."""
    failure_limiter(request).failed(client_address(request))
