"""A PostgreSQL cluster of a test's own, to stop and start at will.

The shared server (127.0.0.1:5432) serves every test run on this machine and must never be
restarted; this one is made with ``initdb`` in a temporary folder, listens on a free
loopback port, and goes away with the test. PostgreSQL refuses to run as root, so under
root its commands run as the ``postgres`` user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from conftest import free_port

from smsgate.storage.database import upgrade

#: Where Debian and Ubuntu put the server's programs; the newest version is used.
BIN_ROOT = Path("/usr/lib/postgresql")


def server_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``, or ``None`` when there is none."""
    versions = sorted(
        (path for path in BIN_ROOT.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def unavailable() -> str | None:
    """Why a private cluster cannot be run here, or ``None`` when it can."""
    if server_bin() is None:
        return f"no initdb under {BIN_ROOT} or on PATH"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists("postgres")):
        return "running as root, and there is no postgres user to run the server as"
    return None


class PrivatePostgres:
    """A cluster in a temporary folder on a free port: :meth:`start`, :meth:`stop`."""

    def __init__(self) -> None:
        bin_dir = server_bin()
        assert bin_dir is not None, unavailable()
        self.bin = bin_dir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="smsgate-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.folder, user="postgres")
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            # Test data: durability across a power cut is not what is tested here, and a
            # server killed with -m immediate loses nothing the kernel already has.
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        """Stop the server at once, as a crash would: open transactions are lost, clients
        are cut off, and the next start recovers from the write-ahead log."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def is_running(self) -> bool:
        """Whether the server is up (``pg_ctl status``)."""
        return (
            subprocess.run(
                self._command("pg_ctl", "-D", str(self.data), "status"),
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )

    def create_database(self) -> str:
        """A new database on the cluster, migrated to head; its URL."""
        name = f"smsgate_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
        upgrade(url)
        return url

    def remove(self) -> None:
        """Stop the server if it runs, and delete its folder."""
        subprocess.run(
            self._command("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin / program), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_postgres else command

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            self._command(program, *args), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{program} failed:\n{done.stdout}{done.stderr}{log}")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
