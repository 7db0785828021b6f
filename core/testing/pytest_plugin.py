"""Fixtures for testing smsgate plugins, loaded by pytest wherever smsgate is installed.

smsgate declares this module as a ``pytest11`` entry point, so a plugin's tests get these
fixtures without a ``conftest.py``. Every name starts with ``smsgate_``, to stay clear of
the test suite's own fixtures.

``smsgate_gateway(config, port=None)``
    Starts smsgate (real uvicorn on a loopback port, dispatch and delivery workers included)
    on a temporary SQLite file, configured by a TOML text of ``[providers.*]`` tables (and
    ``[gateway]`` keys, if any). Returns a :class:`~smsgate.testing.harness.GatewayServer`:
    ``.url``, ``.config``, ``.send(nickname, records)``, ``.callback_url(nickname)``.
``smsgate_fake_clevertap``
    A fake CleverTap callback URL that records what it accepts
    (:class:`~smsgate.testing.harness.FakeCleverTapServer`): ``.callback_url`` for the
    provider's ``clevertap_callback_url``, ``.records()``, ``.wait_for(count)``,
    ``.outage(status, count)``.
``smsgate_sandbox(plugin, dlr_url=..., outcomes=..., delay=..., seed=..., options=..., port=...)``
    Serves a plugin's fake vendor (its ``sandbox_app`` hook); returns its base URL.
    :func:`smsgate.testing.harness.free_port` picks a port ahead, when the gateway's
    configuration must name the sandbox before it runs.
``smsgate_vcr_config``
    A vcrpy configuration that filters credentials and matches on the body; bind it as
    pytest-recording's ``vcr_config``::

        @pytest.fixture(scope="module")
        def vcr_config(smsgate_vcr_config):
            return smsgate_vcr_config

Everything started by a fixture is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from smsgate.testing import harness

# Plain asserts in the contract suite then explain themselves as a test's own do.
pytest.register_assert_rewrite("smsgate.testing.contract")

__all__ = [
    "smsgate_fake_clevertap",
    "smsgate_gateway",
    "smsgate_sandbox",
    "smsgate_vcr_config",
]

GatewayFactory = Callable[..., "harness.GatewayServer"]
SandboxFactory = Callable[..., str]


@pytest.fixture(scope="session")
def smsgate_vcr_config() -> dict[str, Any]:
    """vcrpy settings that keep credentials out of cassettes and match on the body."""
    from smsgate.testing import harness

    return harness.vcr_config()


@pytest.fixture
def smsgate_fake_clevertap() -> Iterator[harness.FakeCleverTapServer]:
    """A fake CleverTap callback URL on a loopback port, recording what it accepts."""
    from smsgate.testing import harness

    with harness.FakeCleverTapServer() as clevertap:
        yield clevertap


@pytest.fixture
def smsgate_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start smsgate on a temporary SQLite file with a given configuration text."""
    from smsgate.testing import harness

    started: list[harness.GatewayServer] = []

    def start(config: str, *, port: int | None = None) -> harness.GatewayServer:
        folder = tmp_path / f"gateway-{len(started)}"
        folder.mkdir()
        gateway = harness.GatewayServer(config, folder, port=port).start()
        started.append(gateway)
        return gateway

    try:
        yield start
    finally:
        for gateway in reversed(started):
            gateway.stop()


@pytest.fixture
def smsgate_sandbox() -> Iterator[SandboxFactory]:
    """Serve a plugin's fake vendor; returns its base URL."""
    from smsgate.testing import harness

    started: list[harness.SandboxServer] = []

    def start(
        plugin: str,
        *,
        dlr_url: str | None = None,
        outcomes: Mapping[str, float] | None = None,
        delay: float = 0.0,
        seed: int | None = 1,
        options: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> str:
        sandbox = harness.SandboxServer(
            plugin,
            dlr_url=dlr_url,
            outcomes=outcomes,
            delay=delay,
            seed=seed,
            options=options,
            port=port,
        ).start()
        started.append(sandbox)
        return sandbox.url

    try:
        yield start
    finally:
        for sandbox in reversed(started):
            sandbox.stop()
