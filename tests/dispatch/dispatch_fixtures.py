"""Fixtures of the dispatcher's tests: the fake vendor server and a rig factory.

Test modules load them with ``pytest_plugins = ["dispatch_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import ServerThread
from dispatch_helpers import FakeClock, Rig, RigFactory, load, provider_toml, write_config
from fakevendor import FakeVendor, FakeVendorPlugin


@dataclass
class VendorServer:
    """The fake vendor and the URL it listens on."""

    vendor: FakeVendor
    url: str


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[VendorServer]:
    """One fake vendor server per test module, over real HTTP."""
    vendor = FakeVendor()
    with ServerThread(vendor.app()) as server:
        yield VendorServer(vendor, server.url)


@pytest.fixture
def vendor(vendor_server: VendorServer) -> VendorServer:
    """The module's fake vendor, with nothing seen and no fault scripted."""
    vendor_server.vendor.reset()
    return vendor_server


@pytest.fixture
def make_rig(
    engine: sa.Engine, database_url: str, vendor: VendorServer, tmp_path: Path
) -> RigFactory:
    """Build a :class:`Rig`: ``providers`` TOML (default: ``fake`` on the fake vendor) and
    ``[gateway.dispatch]`` keys as keyword arguments."""

    def make(providers: str | None = None, **dispatch: Any) -> Rig:
        plugin = FakeVendorPlugin()
        text = providers or provider_toml("fake", vendor.url)
        path = write_config(tmp_path / "smsgate.toml", database_url, text, dispatch)
        return Rig(engine, vendor.vendor, plugin, FakeClock(), load(path, plugin), [0.5])

    return make
