"""The parts every vendor sandbox shares: settings, a request log, scripted faults, reports.

A plugin's sandbox (its ``sandbox_app`` hook, served by ``smsgate sandbox NAME``) answers the
vendor's API in the vendor's own shapes. What does not depend on the vendor is here, so that
every sandbox offers tests the same controls:

- :class:`SandboxKit` checks :class:`~smsgate.types.SandboxSettings` (outcome names and
  weights, the delay, the ``--option`` keys, ``dlr_retries`` and ``dlr_retry_delay``), draws
  ids and outcomes from one seeded random source, keeps the log of send requests and the
  queue of faults, runs background tasks (delivery reports) on a shared HTTP client, and
  pushes a report with retries (:meth:`SandboxKit.push`);
- :meth:`SandboxKit.app` serves the vendor's routes beside the test routes every sandbox
  has: ``GET``/``DELETE /sandbox/requests``, ``GET``/``POST``/``DELETE /sandbox/faults`` and
  a list of the reports pushed;
- :class:`Fault` and :func:`parse_fault`: what ``POST /sandbox/faults`` takes, ``{"status":
  503, "retry_after": "2"}``, ``{"delay": 2.0}``, ``{"body": "<html>"}``, ``{"error":
  NAME}`` (for a sandbox that names error answers), ``"accept": true`` and ``"count": N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smsgate.types import SandboxSettings

__all__ = ["DLR_OPTIONS", "Fault", "SandboxKit", "parse_fault", "takes_messages"]

logger = logging.getLogger(__name__)

#: The options every sandbox understands: attempts per report, seconds before the first retry.
DLR_OPTIONS = ("dlr_retries", "dlr_retry_delay")
#: Delivery reports a sandbox pushes at the same time; the rest wait their turn.
PUSHES_AT_ONCE = 20
_FAULT_KEYS = frozenset({"status", "delay", "body", "retry_after", "accept", "count"})


@dataclass
class Fault:
    """What the sandbox does instead of (or besides) answering the next ``count`` requests."""

    #: How many more send requests get it.
    count: int
    #: Answer with this HTTP status (and a short text) instead of the real answer.
    status: int | None = None
    #: Hold the answer back this many seconds.
    delay: float = 0.0
    #: Give this named error answer of the vendor's instead of checking the request.
    error: str | None = None
    #: Answer with this body (HTTP 200, ``text/html``) instead of the real answer.
    body: str | None = None
    #: The ``Retry-After`` header of a ``status`` answer.
    retry_after: str | None = None
    #: A ``status`` or ``body`` fault still takes the messages, as a server failing after it
    #: acted does.
    accept: bool = False

    def public(self, *, with_count: bool = True) -> dict[str, Any]:
        """The fault as given; ``count`` is what is left of it."""
        return {
            key: value
            for key, value in vars(self).items()
            if value not in (None, 0.0, False) and (with_count or key != "count")
        }

    async def answer(self) -> Response | None:
        """Wait out the delay; then the answer that replaces the real one, if any."""
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return Response(
                f"sandbox fault: HTTP {self.status}\n", status_code=self.status, headers=headers
            )
        if self.body is not None:
            return Response(self.body, media_type="text/html")
        return None


def takes_messages(fault: Fault | None) -> bool:
    """Whether the vendor still takes a request's valid messages under ``fault``.

    A delay takes them (a client that gives up waiting has still sent them, which is what
    "unknown" outcomes are about); a replaced answer does not, unless told to ``accept``.
    """
    return fault is None or (fault.status is None and fault.body is None) or fault.accept


def parse_fault(raw: bytes, *, errors: Sequence[str] = ()) -> Fault:
    """The fault a ``POST /sandbox/faults`` body asks for; :class:`ValueError` says what is wrong.

    :param errors: the names of the sandbox's error answers, for ``"error"``; without any,
        the key is unknown.
    """
    try:
        spec = json.loads(raw or b"{}")
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(spec, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(spec) - (_FAULT_KEYS | {"error"} if errors else _FAULT_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    count, status, delay = spec.get("count", 1), spec.get("status"), spec.get("delay", 0)
    error, body, retry_after = spec.get("error"), spec.get("body"), spec.get("retry_after")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be a whole number, 1 or more")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise ValueError("status must be an HTTP status code")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 600:
        raise ValueError("delay must be seconds between 0 and 600")
    if error is not None and error not in errors:
        raise ValueError(f"error must be one of {', '.join(errors)}")
    if body is not None and not isinstance(body, str):
        raise ValueError("body must be a string")
    if retry_after is not None and not isinstance(retry_after, str | int):
        raise ValueError("retry_after must be a string or a number of seconds")
    if status is None and not delay and error is None and body is None:
        kinds = "status, delay, error, body" if errors else "status, delay, body"
        raise ValueError(f"give at least one of {kinds}")
    return Fault(
        count=count,
        status=status,
        delay=float(delay),
        error=error,
        body=body,
        retry_after=None if retry_after is None else str(retry_after),
        accept=bool(spec.get("accept", False)),
    )


class SandboxKit:
    """A sandbox's checked settings and the state every sandbox keeps.

    Raises :class:`ValueError` for an outcome name not in ``outcomes``, a negative weight or
    delay (or only zero weights), an option not known, or a malformed count or delay.

    :param settings: what ``smsgate sandbox`` (or a test) asked for.
    :param outcomes: the outcome names this sandbox knows.
    :param options: this sandbox's own ``--option`` keys, besides :data:`DLR_OPTIONS`.
    :param counts: those of ``options`` that are whole numbers of 1 or more, with their
        defaults; read them from :attr:`counts`.
    :param errors: the names of the sandbox's error answers a fault may ask for.
    """

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        outcomes: Collection[str],
        options: Sequence[str] = (),
        counts: Mapping[str, int] | None = None,
        errors: Sequence[str] = (),
    ) -> None:
        unknown = set(settings.outcomes) - set(outcomes)
        if unknown:
            known = ", ".join(sorted(outcomes))
            raise ValueError(f"unknown outcome(s) {', '.join(sorted(unknown))}; known: {known}")
        weights = settings.outcomes.values()
        if any(weight < 0 for weight in weights) or not any(weights):
            raise ValueError("outcome weights must be zero or more, and not all zero")
        if settings.delay < 0:
            raise ValueError("delay must be zero or more seconds")
        known_options = (*options, *DLR_OPTIONS)
        unknown = set(settings.options) - set(known_options)
        if unknown:
            raise ValueError(
                f"unknown sandbox option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(known_options)}"
            )
        defaults = {**(counts or {}), "dlr_retries": 5}
        names = " and ".join(defaults)
        try:
            parsed = {name: int(settings.options.get(name, str(n))) for name, n in defaults.items()}
            retry_delay = float(settings.options.get("dlr_retry_delay", "0.5"))
        except ValueError:
            kind = "whole numbers" if len(defaults) > 1 else "a whole number"
            raise ValueError(f"{names} must be {kind}, dlr_retry_delay seconds") from None
        if any(value < 1 for value in parsed.values()) or retry_delay < 0:
            raise ValueError(f"{names} must be 1 or more, dlr_retry_delay zero or more")
        self.settings = settings
        #: The ``--option`` values as given.
        self.options: Mapping[str, str] = dict(settings.options)
        #: The whole-number options asked for with ``counts``, read.
        self.counts: Mapping[str, int] = parsed
        self.dlr_retries = parsed.pop("dlr_retries")
        self.dlr_retry_delay = retry_delay
        self.errors = tuple(errors)
        seed = settings.seed if settings.seed is not None else secrets.randbits(64)
        #: Every id and outcome comes from here, so that a seed reproduces a run.
        self.rng = random.Random(seed)
        #: Every send request, in order of arrival: what ``/sandbox/requests`` lists.
        self.requests: list[dict[str, Any]] = []
        #: Faults still to come, in order.
        self.faults: list[Fault] = []
        #: The shared HTTP client while the application runs (see :meth:`lifespan`).
        self.client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Thousands of reports due at once, each waiting for one of the client's pooled
        # connections, left the client busy choosing among them and sending nothing; a real
        # vendor pushes a few dozen at a time too.
        self._pushing = asyncio.Semaphore(PUSHES_AT_ONCE)

    def pick_outcome(self) -> str:
        """An outcome name drawn by the settings' weights."""
        names = list(self.settings.outcomes)
        weights = [self.settings.outcomes[name] for name in names]
        return self.rng.choices(names, weights=weights)[0]

    def next_fault(self) -> Fault | None:
        """The fault for the request that just arrived, if one is queued."""
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.count -= 1
        if fault.count <= 0:
            self.faults.pop(0)
        return fault

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; it is cancelled when the application stops."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(
        self, url: str, attempt: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
    ) -> tuple[int, bool]:
        """Push a delivery report to ``url``, retrying while it fails; ``(attempts, delivered)``.

        :param attempt: makes one attempt with the client (a vendor that signs its reports
            signs each attempt anew). Waits ``dlr_retry_delay`` before the first retry,
            doubling after, up to ``dlr_retries`` attempts.
        """
        if self.client is None:
            raise RuntimeError("the sandbox application is not running")
        attempts = 0
        for attempt_number in range(self.dlr_retries):
            attempts = attempt_number + 1
            try:
                async with self._pushing:
                    response = await attempt(self.client)
            except httpx.HTTPError as exc:
                logger.warning("delivery report to %s failed: %s", url, type(exc).__name__)
            else:
                if response.is_success:
                    return attempts, True
                logger.warning("delivery report to %s answered %s", url, response.status_code)
            if attempts < self.dlr_retries:
                await asyncio.sleep(self.dlr_retry_delay * 2**attempt_number)
        return attempts, False

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """The application's lifespan: the shared client; background tasks stopped at the end."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            self.client = client
            try:
                yield
            finally:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def app(
        self, routes: Sequence[BaseRoute], *, reports: tuple[str, list[dict[str, Any]]]
    ) -> Starlette:
        """The sandbox: the vendor's ``routes`` and the test routes under ``/sandbox/``.

        :param reports: the name of the list of reports pushed and the list itself: served
            as ``GET /sandbox/<name>``, ``{"<name>": [...]}``.
        """
        name, pushed = reports

        async def list_requests(request: Request) -> Response:
            if request.method == "DELETE":
                self.requests.clear()
            return JSONResponse({"requests": self.requests})

        async def faults(request: Request) -> Response:
            if request.method == "POST":
                try:
                    self.faults.append(parse_fault(await request.body(), errors=self.errors))
                except ValueError as exc:
                    return JSONResponse({"error": str(exc)}, status_code=400)
            elif request.method == "DELETE":
                self.faults.clear()
            return JSONResponse({"pending": [fault.public() for fault in self.faults]})

        async def list_reports(request: Request) -> Response:
            return JSONResponse({name: pushed})

        return Starlette(
            routes=[
                *routes,
                Route("/sandbox/requests", list_requests, methods=["GET", "DELETE"]),
                Route("/sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
                Route(f"/sandbox/{name}", list_reports, methods=["GET"]),
            ],
            lifespan=self.lifespan,
        )
