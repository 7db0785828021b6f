"""The set for the fault tests: a vendor, a CleverTap, a gateway, and a client posting to it.

The vendor is the Pingbix sandbox (its log of what it took is the ground truth the
invariants compare with) pushing delivery reports to the gateway; CleverTap is
``smsgate fake-clevertap``'s app; both run in this process on loopback ports. The gateway
runs in this process too, or as a real ``smsgate serve`` process when a test kills it. All
timings are shortened so that retries and leases play out in seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from child_processes import Process, spawn, wait_ready
from conftest import CALLBACK_TOKEN, TOKEN, free_port
from fault_invariants import Sent

from smsgate.config import load_config
from smsgate.host.app import create_app
from smsgate.plugins import load_plugins
from smsgate.testing.harness import FakeCleverTapServer, SandboxServer
from smsgate.testing.server import LoopbackServer

NICK = "pingbix-in"
USERID = "acme"
PASSWORD = "sandbox-password-1"

#: Short enough that retries, leases and relays play out within a test.
DISPATCH = {
    "concurrency": 4,
    "batch_size": 5,
    "poll_interval": 0.05,
    "send_timeout": 2.5,
    "lease": 3.5,
    "reclaim_interval": 0.3,
    "backoff_base": 0.05,
    "backoff_cap": 0.2,
    "max_retry_after": 1.0,
    "breaker_cooldown": 0.5,
}
DELIVERY = {
    "relay_batch_size": 10,
    "relay_poll_interval": 0.1,
    "relay_timeout": 1.0,
    "relay_lease": 2.0,
    "relay_first_delay": 0.2,
    "relay_backoff_cap": 0.5,
    "sweep_interval": 0.3,
}
#: The plugin's timeouts: a vendor silent for 2 s leaves the message unknown. Shorter would
#: be quicker, but a loaded machine can take a second to answer on loopback.
OPTIONS = {"connect_timeout": 2.0, "read_timeout": 2.0}


def write_config(
    path: Path,
    database_url: str,
    vendor_url: str,
    clevertap_url: str,
    *,
    dispatch: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> Path:
    """A config with one Pingbix nickname on ``vendor_url``, relaying to ``clevertap_url``."""

    def table(values: dict[str, Any]) -> str:
        return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())

    path.write_text(
        f"[gateway]\ndatabase_url = {json.dumps(database_url)}\n"
        f'public_url = "http://127.0.0.1:8000"\n\n'
        f"[gateway.dispatch]\n{table({**DISPATCH, **(dispatch or {})})}\n"
        f"[gateway.delivery]\n{table({**DELIVERY, **(delivery or {})})}\n"
        f"[providers.{NICK}]\n"
        f'plugin = "pingbix"\n'
        f'token = "{TOKEN}"\n'
        f'callback_token = "{CALLBACK_TOKEN}"\n'
        f"clevertap_callback_url = {json.dumps(clevertap_url)}\n"
        f'default_country = "IN"\n\n'
        f"[providers.{NICK}.options]\n"
        f"base_url = {json.dumps(vendor_url)}\n"
        f'userid = "{USERID}"\n'
        f'password = "{PASSWORD}"\n'
        f'senderid = "ACMEIN"\n'
        f"{table({**OPTIONS, **(options or {})})}"
    )
    return path


def callback_url(gateway_url: str) -> str:
    """Where the vendor pushes its delivery reports."""
    return f"{gateway_url}/callbacks/{NICK}/{CALLBACK_TOKEN}"


@contextmanager
def vendor_and_clevertap(
    gateway_url: str, *, report_delay: float = 0.2, seed: int = 20261125
) -> Iterator[tuple[SandboxServer, FakeCleverTapServer]]:
    """The Pingbix sandbox (reports to ``gateway_url`` ``report_delay`` seconds after it takes
    a message, retried while the gateway is down) and a fake CleverTap, both serving until
    the block ends."""
    vendor = SandboxServer(
        "pingbix",
        dlr_url=callback_url(gateway_url),
        outcomes={"delivered": 3, "failed": 1},
        delay=report_delay,
        seed=seed,
        # Retries doubling from 0.05 s, over three minutes in all: they outlast a gateway
        # restart, and the first one after it comes soon.
        options={
            "userid": USERID,
            "password": PASSWORD,
            "dlr_retries": "13",
            "dlr_retry_delay": "0.05",
        },
    )
    with vendor, FakeCleverTapServer() as clevertap:
        yield vendor, clevertap


class Scene(NamedTuple):
    """Where the gateway is to listen, the vendor and CleverTap serving, its config file."""

    url: str
    port: int
    vendor: SandboxServer
    clevertap: FakeCleverTapServer
    config: Path


@contextmanager
def scene(
    database_url: str,
    folder: Path,
    *,
    report_delay: float = 0.2,
    dispatch: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
) -> Iterator[Scene]:
    """:func:`vendor_and_clevertap` for a gateway on a free port, with its config in
    ``folder`` (``dispatch`` and ``delivery`` as for :func:`write_config`); the gateway
    itself is the caller's to run."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with vendor_and_clevertap(url, report_delay=report_delay) as (vendor, clevertap):
        config = write_config(
            folder / "smsgate.toml",
            database_url,
            vendor.url,
            clevertap.callback_url,
            dispatch=dispatch,
            delivery=delivery,
        )
        yield Scene(url, port, vendor, clevertap, config)


@contextmanager
def gateway_in_process(config: Path, port: int) -> Iterator[LoopbackServer]:
    """The gateway, app and workers, in this process."""
    with LoopbackServer(create_app(load_config(config, load_plugins())), port=port) as server:
        yield server


def serve(config: Path, port: int, log: Path) -> Process:
    """``smsgate serve`` as a process of its own, once it is ready."""
    args = ["serve", "--config", str(config), "--port", str(port)]
    return wait_ready(spawn(args, log, "/readyz", port))


def texts(prefix: str, count: int, start: int = 0) -> list[dict[str, str]]:
    """``count`` records, each with its own id and text (the vendor's log tells them apart)."""
    return [
        {
            "to": f"98{n:08d}",
            "body": f"{prefix} message {n}",
            "message_id": f"{prefix}.{n}.wzrk_default.",
        }
        for n in range(start, start + count)
    ]


@dataclass
class Answer:
    """One request the client made: when, for which ids, and the status (None: no answer)."""

    started: float
    ended: float
    ids: list[str]
    status: int | None


@dataclass
class Client:
    """CleverTap's side: posts batches and remembers what it was told, in :attr:`sent`."""

    url: str
    sent: Sent = field(default_factory=Sent)
    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, records: list[dict[str, str]], timeout: float = 10) -> int | None:
        """POST ``records`` as one batch; the status, or ``None`` when no answer came."""
        ids = [record["message_id"] for record in records]
        started = time.monotonic()
        try:
            status: int | None = httpx.post(
                f"{self.url}/clevertap/{NICK}",
                json={"messages": records},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=timeout,
            ).status_code
        except httpx.TransportError:
            status = None
        with self._lock:
            self.sent.record(ids, status)
            self.answers.append(Answer(started, time.monotonic(), ids, status))
        return status

    def unanswered(self) -> list[list[str]]:
        """The ids of every request that got no 202 and was not sent again with success."""
        with self._lock:
            return [ids for ids in self.sent.unanswered if not self.sent.answered & set(ids)]


class Poster:
    """A thread that posts batch after batch until told to stop (or, if ``stop_on_error``,
    until a request gets no answer)."""

    def __init__(
        self, client: Client, prefix: str, size: int, *, pause: float = 0.0, stop_on_error: bool
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.size = size
        self.pause = pause
        self.stop_on_error = stop_on_error
        self.batches: list[list[dict[str, str]]] = []
        self.in_flight_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poster:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def stop(self) -> None:
        """Post no more; return once the last request has its answer."""
        self.__exit__()

    def answered(self) -> int:
        """Requests answered 202 so far."""
        return sum(1 for answer in self.client.answers if answer.status == 202)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = texts(self.prefix, self.size, start=len(self.batches) * self.size)
            self.batches.append(batch)
            self.in_flight_since = time.monotonic()
            status = self.client.post(batch)
            self.in_flight_since = None
            if status is None and self.stop_on_error:
                return
            if self.pause:
                self._stop.wait(self.pause)
