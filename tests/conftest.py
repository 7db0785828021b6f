"""Fixtures shared by the whole suite.

Every test that asks for ``database_url`` runs twice: on a real SQLite file and on the
PostgreSQL server named by ``SMSGATE_TEST_POSTGRES_URL`` (default: the local server's
``test`` database). Without that server the PostgreSQL runs are skipped with the reason,
except under CI, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn

from smsgate.config import Config, load_config
from smsgate.host.app import create_app
from smsgate.plugins import PluginSet, load_plugins
from smsgate.storage.database import create_engine, upgrade

LOOPBACK_HOSTS = ("localhost", "127.", "::1")


@pytest.fixture(autouse=True)
def only_loopback_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any name lookup beyond this machine: tests talk to our own servers only."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if host is not None and not name.startswith(LOOPBACK_HOSTS):
            raise OSError(f"tests may only reach loopback addresses, not {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


POSTGRES_ADMIN_URL = os.environ.get(
    "SMSGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOKEN = "ct-token-0123456789"
CALLBACK_TOKEN = "dlr-token-0123456789"
#: The Pingbix provider most tests configure, as TOML; its vendor and CleverTap are closed ports.
PINGBIX_PROVIDER = f"""
[providers.pingbix-in]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
default_country = "IN"

[providers.pingbix-in.options]
base_url = "http://127.0.0.1:9"
userid = "acme"
password = "secret-password"
senderid = "ACMEIN"
"""


def _postgres_unavailable() -> str | None:
    engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as exc:
        return f"PostgreSQL at {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_postgres_database(prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL database (migrated to head unless told not to), dropped afterwards.

    Skips the test when PostgreSQL is absent, except in CI, where it fails.
    """
    reason = _postgres_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(f"PostgreSQL not available: {reason}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with fresh_postgres_database("smsgate_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "smsgate.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "smsgate.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        names = (
            connection.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if names:
            connection.exec_driver_sql(
                "TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"
            )
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_postgres_database("smsgate_empty", migrate=False) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on the test database."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def plugins() -> PluginSet:
    """The installed plugins, found through their entry points."""
    return load_plugins()


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path, plugins: PluginSet) -> ConfigFactory:
    """Write a config file with one pingbix provider (plus ``extra`` TOML) and load it."""

    def make(database_url: str = "sqlite:///smsgate.db", extra: str = "", **gateway: str) -> Config:
        lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in gateway.items())
        text = (
            textwrap.dedent(
                f"""\
            [gateway]
            database_url = "{database_url}"
            public_url = "https://sms.example.com"
            """
            )
            + lines
            + PINGBIX_PROVIDER
            + textwrap.dedent(extra)
        )
        path = tmp_path / "smsgate.toml"
        path.write_text(text)
        return load_config(path, plugins)

    return make


PluginInstaller = Callable[[str, str], str]


@pytest.fixture
def install_plugin(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PluginInstaller]:
    """Install throwaway plugins the way a third-party one is: a distribution on sys.path.

    ``install_plugin(name, source)`` writes a module holding ``source`` and a ``.dist-info``
    whose ``smsgate`` entry point ``name`` names it; both this process and subprocesses
    (through ``PYTHONPATH``) find it. Returns the module name.
    """
    site = tmp_path_factory.mktemp("site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    modules: list[str] = []

    def install(name: str, source: str) -> str:
        module = f"smsgate_test_{name}_{uuid.uuid4().hex[:8]}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[smsgate]\n{name} = {module}\n")
        modules.append(module)
        return module

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """A real uvicorn server on a loopback port, in a thread of the test process."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def gateway(make_config: ConfigFactory, database_url: str) -> Iterator[ServerThread]:
    """A gateway serving the default test config over real HTTP."""
    config = make_config(database_url)
    with ServerThread(create_app(config)) as server:
        yield server
