"""Running pieces of smsgate for a plugin's tests: a gateway, a fake CleverTap, a sandbox.

The fixtures of :mod:`smsgate.testing.pytest_plugin` are built from these; a test that does
not use pytest fixtures can use them directly, as context managers. Everything listens on
loopback ports and is real: uvicorn, HTTP, a SQLite file.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from smsgate.config import Config, load_config
from smsgate.plugins import load_plugins
from smsgate.testing.server import LoopbackServer, free_port
from smsgate.types import SandboxSettings

__all__ = [
    "CREDENTIAL_NAMES",
    "FakeCleverTapServer",
    "GatewayServer",
    "SandboxServer",
    "free_port",
    "vcr_config",
    "wait_until",
]

#: Query and body parameter names that carry credentials, filtered out of cassettes.
CREDENTIAL_NAMES = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "auth_token",
    "api_key",
    "apikey",
    "key",
)
#: Headers that carry credentials, filtered out of cassettes.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie")
FILTERED = "FILTERED"


def vcr_config() -> dict[str, Any]:
    """A vcrpy configuration for recording a vendor's API with credentials filtered.

    Requests match on method, path, query and **body** (a change to what the plugin sends
    fails the test until it is re-recorded), not on host and port (recorded against the
    sandbox on any port, or against the vendor, a cassette replays the same). Credential
    headers, query parameters and form or JSON body fields are stored as ``FILTERED``, and
    ``Content-Length`` is dropped (it would tell a secret's length). The record mode is not
    set here: pytest-recording's ``--record-mode`` decides, and its default is ``none``.
    """
    return {
        "match_on": ("method", "path", "query", "body"),
        "filter_headers": [(name, FILTERED) for name in CREDENTIAL_HEADERS]
        + ["content-length", "set-cookie"],
        "filter_query_parameters": [(name, FILTERED) for name in CREDENTIAL_NAMES],
        "filter_post_data_parameters": [(name, FILTERED) for name in CREDENTIAL_NAMES],
        "decode_compressed_response": True,
    }


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``condition`` until it returns something true; return that (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class _Running:
    """A server that stops when the ``with`` block ends."""

    server: LoopbackServer

    @property
    def url(self) -> str:
        """Where it listens."""
        return self.server.url

    def start(self) -> Self:
        """Start serving."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class FakeCleverTapServer(_Running):
    """CleverTap's SMS callback URL, recording what it accepts (see ``fake_clevertap``)."""

    def __init__(self, account: str = "TEST-ACCOUNT") -> None:
        from smsgate.testing.fake_clevertap import create_app

        self.server = LoopbackServer(create_app())
        self.account = account

    @property
    def callback_url(self) -> str:
        """What to give as a provider's ``clevertap_callback_url``."""
        return f"{self.url}/sms/generic?account={self.account}"

    def records(self) -> list[dict[str, Any]]:
        """Every record accepted so far, each with its ``event``, in arrival order."""
        answer = httpx.get(f"{self.url}/_fake/received", timeout=10)
        answer.raise_for_status()
        records: list[dict[str, Any]] = answer.json()["records"]
        return records

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The records, once at least ``count`` have arrived."""
        return list(
            wait_until(
                lambda: (found := self.records()) and len(found) >= count and found,
                f"{count} record(s) at the fake CleverTap",
                timeout,
            )
        )

    def outage(self, status: int = 503, count: int = 1, *, seconds: float = 0.0) -> None:
        """Answer ``status`` to the next ``count`` callback requests, or for ``seconds``."""
        spec = (
            {"status": status, "seconds": seconds}
            if seconds
            else {"status": status, "count": count}
        )
        httpx.post(f"{self.url}/_fake/outage", json=spec, timeout=10).raise_for_status()

    def latency(self, seconds: float) -> None:
        """Take ``seconds`` over each callback request before handling it (0: answer at once)."""
        httpx.post(
            f"{self.url}/_fake/latency", json={"seconds": seconds}, timeout=10
        ).raise_for_status()


class SandboxServer(_Running):
    """A plugin's fake vendor (its ``sandbox_app`` hook), served on a loopback port."""

    def __init__(
        self,
        plugin: str,
        *,
        dlr_url: str | None = None,
        outcomes: Mapping[str, float] | None = None,
        delay: float = 0.0,
        seed: int | None = 1,
        options: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        settings = SandboxSettings(
            dlr_url=dlr_url,
            outcomes=dict(outcomes or {"delivered": 1.0}),
            delay=delay,
            seed=seed,
            options=dict(options or {}),
        )
        app = load_plugins().get(plugin).sandbox_app(settings)
        self.server = LoopbackServer(app, port=port)


class GatewayServer(_Running):
    """smsgate itself on a temporary SQLite file, configured by a TOML text.

    :param config: the configuration: ``[providers.*]`` tables, and any ``[gateway]`` keys.
        ``database_url`` (a SQLite file in ``folder``) and ``public_url`` are added unless
        given.
    :param folder: where the configuration file and the database go.
    :param port: the loopback port to listen on; default: a free one.
    """

    def __init__(self, config: str, folder: Path, *, port: int | None = None) -> None:
        from smsgate.host.app import create_app

        port = port if port is not None else free_port()
        # A JSON string is a valid TOML basic string.
        database = json.dumps(f"sqlite:///{folder / 'smsgate.db'}")
        defaults = f'database_url = {database}\npublic_url = "http://127.0.0.1:{port}"\n'
        path = folder / "smsgate.toml"
        path.write_text(_with_gateway_defaults(config, defaults), encoding="utf-8")
        self.config: Config = load_config(path, load_plugins())
        self.server = LoopbackServer(create_app(self.config), port=port)

    def callback_url(self, nickname: str) -> str:
        """The delivery report URL of ``nickname``, for its vendor (or sandbox)."""
        token = self.config.providers[nickname].settings.callback_token.get_secret_value()
        return f"{self.url}/callbacks/{nickname}/{token}"

    def send(self, nickname: str, records: Sequence[Mapping[str, Any]]) -> httpx.Response:
        """POST ``records`` to ``/clevertap/{nickname}`` as CleverTap does, with its token."""
        token = self.config.providers[nickname].settings.token.get_secret_value()
        return httpx.post(
            f"{self.url}/clevertap/{nickname}",
            json={"messages": list(records)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )


_GATEWAY_TABLE = re.compile(r"^\[gateway\][ \t]*(#.*)?$", re.MULTILINE)


def _with_gateway_defaults(config: str, defaults: str) -> str:
    given = tomllib.loads(config).get("gateway", {})
    lines = "".join(
        line + "\n" for line in defaults.splitlines() if line.split("=")[0].strip() not in given
    )
    match = _GATEWAY_TABLE.search(config)
    if match is None:
        return f"[gateway]\n{lines}\n{config}"
    return config[: match.end()] + "\n" + lines + config[match.end() :]
