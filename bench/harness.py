"""What every benchmark part shares: databases, the gateway process, timing and reporting.

A part is a module with ``run(context) -> list[Result]``. It sets up a measurement with a
:class:`Rig` (fresh databases from :func:`fresh_database`, stand-ins of peers as
:class:`HelperProcess`, the real installed gateway as :class:`GatewayProcess`), lets the
lines it compares take turns in rounds (:func:`take_turns`), times with
:func:`time.perf_counter`, and returns one :class:`Result` per measured line; the runner
writes them as JSON and prints them as a table.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import sqlalchemy as sa

from smsgate.storage.database import create_engine

POSTGRES_ADMIN_URL = os.environ.get(
    "SMSGATE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASES = ("sqlite", "postgresql")
NICKNAME = "bench-in"
TOKEN = "bench-token-0123456789abcdef"
CALLBACK_TOKEN = "bench-dlr-token-0123456789"
#: Where the provider's vendor API is said to be: a closed loopback port, so that nothing a
#: benchmark stores can ever reach a real vendor. Parts that measure sending replace it.
UNREACHABLE_VENDOR = "http://127.0.0.1:9"
#: The same for CleverTap's callback URL.
UNREACHABLE_CLEVERTAP = "http://127.0.0.1:9/clevertap-callback"


class _Closable(Protocol):
    def close(self) -> None: ...


ClosableT = TypeVar("ClosableT", bound=_Closable)


class BenchError(RuntimeError):
    """A benchmark could not run or the gateway answered something unexpected."""


@dataclass(frozen=True)
class Size:
    """How much work each part does: ``quick`` for every change, ``long`` for the README."""

    name: str
    #: 1000-record batches per measured line.
    batches: int
    #: Each line's batches are sent in this many rounds, the lines compared taking turns,
    #: so that a slow moment of the machine falls on both sides of a ratio.
    rounds: int
    #: Batches sent and thrown away before timing, so imports and caches are warm.
    warmup: int
    #: Messages stored before the "full table" line.
    prefill: int
    #: Messages sent through the dispatcher (and through the ceiling) per line.
    dispatch_messages: int
    #: Delivery reports posted per line.
    reports: int
    #: Records relayed to CleverTap per line.
    relay_records: int
    #: 1000-record batches posted back to back to find the peak accept rate.
    latency_peak: int
    #: 1000-record batches posted at half the peak rate, each one a latency sample.
    latency_batches: int
    #: Messages posted (and left in flight) before the gateway's peak RSS is read.
    memory_messages: int
    #: Seconds the gateway goes on dispatching them before the peak RSS is read.
    memory_hold: float


SIZES = {
    "quick": Size(
        "quick",
        batches=12,
        rounds=4,
        warmup=2,
        prefill=200_000,
        dispatch_messages=1_200,
        reports=2_000,
        relay_records=8_000,
        latency_peak=8,
        latency_batches=60,
        memory_messages=100_000,
        memory_hold=1.0,
    ),
    "long": Size(
        "long",
        batches=200,
        rounds=10,
        warmup=5,
        prefill=1_000_000,
        dispatch_messages=50_000,
        reports=50_000,
        relay_records=200_000,
        latency_peak=40,
        latency_batches=1000,
        memory_messages=100_000,
        memory_hold=30.0,
    ),
}


@dataclass(frozen=True)
class Context:
    """What a part needs to know about this run."""

    size: Size
    databases: tuple[str, ...]
    #: Scratch space for config files, SQLite files and gateway logs.
    workdir: Path
    #: Where results go; profiles too.
    output: Path
    #: The py-spy executable when ``--profile`` was given: parts then record where the
    #: gateway spends its time, in a pass of their own that is not timed.
    py_spy: str | None = None
    postgres_admin_url: str = POSTGRES_ADMIN_URL


@dataclass
class Result:
    """One measured line: a rate beside what it is compared with, and the verdict."""

    part: str
    database: str
    line: str
    rate: float
    unit: str
    #: What ``rate`` is compared with (a ceiling, or the same rate in easier conditions).
    ceiling: float
    ceiling_label: str
    #: ``rate / ceiling`` must be at least this (at most, when not ``higher_is_better``);
    #: ``None`` for a line shown only to explain the others.
    target: float | None
    peak_rss_bytes: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: False for figures such as latency or memory, compared with a limit as ``ceiling``.
    higher_is_better: bool = True
    #: For a line without a target: the ratio the benchmark aims at, shown but not judged.
    aim: float | None = None

    @property
    def ratio(self) -> float:
        """``rate / ceiling``."""
        return self.rate / self.ceiling if self.ceiling else 0.0

    @property
    def passed(self) -> bool | None:
        """Whether the ratio meets the target; ``None`` for a line without one."""
        if self.target is None:
            return None
        if self.higher_is_better:
            return self.ratio >= self.target
        return self.ratio <= self.target


# --- databases -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchDatabase:
    """A database made for one measurement, with a config file pointing at it."""

    kind: str
    url: str
    config: Path


def write_config(
    path: Path,
    database_url: str,
    *,
    vendor_url: str = UNREACHABLE_VENDOR,
    dispatch: bool = False,
    delivery: bool = True,
    clevertap_url: str = UNREACHABLE_CLEVERTAP,
    dispatch_settings: dict[str, float] | None = None,
    delivery_settings: dict[str, float] | None = None,
) -> Path:
    """A gateway config with one Pingbix nickname, :data:`NICKNAME`, on ``database_url``.

    Dispatch workers are off unless ``dispatch``, and the delivery workers (the relay to
    CleverTap) unless ``delivery``: a part measures one thing at a time. ``*_settings`` are
    further keys of ``[gateway.dispatch]`` and ``[gateway.delivery]``.
    """
    gateway = textwrap.dedent(
        f"""\
        [gateway]
        database_url = "{database_url}"
        public_url = "http://127.0.0.1:8000"
        auto_migrate = false
        """
    )
    dispatch_table = _table("gateway.dispatch", {"enabled": dispatch, **(dispatch_settings or {})})
    delivery_table = _table("gateway.delivery", {"enabled": delivery, **(delivery_settings or {})})
    provider = textwrap.dedent(
        f"""\
        [providers.{NICKNAME}]
        plugin = "pingbix"
        token = "{TOKEN}"
        callback_token = "{CALLBACK_TOKEN}"
        clevertap_callback_url = "{clevertap_url}"
        default_country = "IN"

        [providers.{NICKNAME}.options]
        base_url = "{vendor_url}"
        userid = "bench"
        password = "bench-password"
        senderid = "BENCHN"
        """
    )
    path.write_text(
        "\n".join((gateway, dispatch_table, delivery_table, provider)), encoding="utf-8"
    )
    return path


def _table(name: str, keys: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    for key, value in keys.items():
        text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def fresh_database(
    context: Context, kind: str, *, copy_of: BenchDatabase | None = None
) -> Iterator[BenchDatabase]:
    """A new database of ``kind``, dropped after the block.

    Empty and migrated with ``smsgate db upgrade``, or a copy of ``copy_of`` (which nothing
    may be connected to at that moment).
    """
    name = f"bench_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        path = context.workdir / f"{name}.db"
        url = f"sqlite:///{path}"
        if copy_of is not None:
            source = sa.make_url(copy_of.url).database or ""
            for suffix in ("", "-wal"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copyfile(f"{source}{suffix}", f"{path}{suffix}")
    elif kind == "postgresql":
        admin = sa.create_engine(context.postgres_admin_url, isolation_level="AUTOCOMMIT")
        template = ""
        if copy_of is not None:
            template = f' TEMPLATE "{sa.make_url(copy_of.url).database}"'
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"{template}')
        except sa.exc.OperationalError as exc:
            admin.dispose()
            raise BenchError(f"PostgreSQL is not reachable: {exc.orig}") from None
        url = sa.make_url(context.postgres_admin_url).set(database=name).render_as_string(False)
    else:
        raise BenchError(f"unknown database kind {kind!r}; use one of {', '.join(DATABASES)}")
    config = write_config(context.workdir / f"{name}.toml", url)
    try:
        if copy_of is None:
            run_cli("db", "upgrade", "--config", str(config))
        yield BenchDatabase(kind, url, config)
    finally:
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def watcher_engine(url: str) -> sa.Engine:
    """An engine for the benchmark's polling reads, which must not get in the gateway's way.

    Not :func:`smsgate.storage.database.create_engine`: on SQLite that begins every
    transaction, reads too, with ``BEGIN IMMEDIATE``, the write lock, and a poll every few
    milliseconds would queue the gateway's writers behind it. In autocommit a read takes no
    lock at all (WAL).
    """
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


class Feeder:
    """Stores work for the gateway straight into its database and times how long it takes.

    The parts that measure the gateway's workers (dispatch, relay) store a round's work
    with :attr:`engine` (the gateway's own settings; not timed), then poll with
    :attr:`watcher` until none of it is left (:meth:`drain`).
    """

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.watcher = watcher_engine(url)

    def count(self, statement: sa.Select[Any]) -> int:
        """The single number ``statement`` selects, read without a lock."""
        with self.watcher.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def drain(self, remaining: Callable[[], int], pid: int, timeout: float = 600.0) -> Spent:
        """Time until ``remaining()`` is 0, polled every 5 ms; CPU seconds of process ``pid``."""
        cpu = cpu_seconds(pid)
        with Stopwatch() as watch:
            deadline = time.monotonic() + timeout
            while remaining():
                if time.monotonic() > deadline:
                    raise BenchError(f"work still waiting after {timeout:.0f} s")
                time.sleep(0.005)
        return Spent(watch.seconds, cpu_seconds(pid) - cpu)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()
        self.watcher.dispose()


def smsgate_executable() -> str:
    """The ``smsgate`` command installed beside the running interpreter."""
    candidate = Path(sys.executable).parent / "smsgate"
    if not candidate.exists():
        raise BenchError(f"{candidate} not found; run `make bench` so the project is installed")
    return str(candidate)


def run_cli(*args: str) -> str:
    """Run ``smsgate ARGS`` and return its output; raise :class:`BenchError` if it fails."""
    done = subprocess.run(
        [smsgate_executable(), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"smsgate {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# --- the gateway process ---------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """``smsgate serve`` in a subprocess (one uvicorn worker) on a free loopback port."""

    def __init__(self, config: Path, log: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        #: VmHWM of the process, read just before it was stopped.
        self.peak_rss_bytes: int | None = None

    def __enter__(self) -> GatewayProcess:
        command = [
            smsgate_executable(),
            "serve",
            "--config",
            str(self.config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The gateway's process id."""
        if self.process is None:
            raise BenchError("the gateway is not running")
        return self.process.pid

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise BenchError(f"the gateway exited at start:\n{self.log_tail()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise BenchError(f"the gateway was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the gateway printed."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def peak_rss(self) -> int:
        """The process's peak resident set size so far (VmHWM), in bytes."""
        return peak_rss_bytes(self.pid)

    def stop(self) -> None:
        """Stop the gateway the way an operator would (SIGTERM), killing it if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(BenchError, OSError):
            self.peak_rss_bytes = self.peak_rss()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class HelperProcess:
    """A stand-in server of the benchmark (``python -m bench.<module> --port P``).

    Ready once its port accepts connections. Used for the fake vendor, the bare Starlette
    ceiling and the fake CleverTap, each in a process of its own like the real peers.
    """

    def __init__(self, module: str, log: Path, *args: str) -> None:
        self.module = module
        self.log = log
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_bytes: int | None = None

    def __enter__(self) -> HelperProcess:
        command = [sys.executable, "-m", self.module, "--port", str(self.port), *self.args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1]
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.module} exited at start; see {self.log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise BenchError(f"{self.module} did not listen within 30 s; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The process id."""
        if self.process is None:
            raise BenchError(f"{self.module} is not running")
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(BenchError, OSError):
            self.peak_rss_bytes = peak_rss_bytes(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Rig:
    """The databases and processes of one measurement, dropped and stopped together.

    A ``with`` block; what it made is undone in reverse order when it ends, so that a
    stand-in outlives the gateway talking to it. Files are named after the part and the
    database kind, in the run's scratch folder.
    """

    def __init__(self, context: Context, part: str, kind: str) -> None:
        self.context = context
        self.part = part
        self.kind = kind
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Rig:
        self._stack.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)

    def path(self, name: str = "", suffix: str = ".toml") -> Path:
        """``<workdir>/<part>[-name]-<kind><suffix>``."""
        middle = f"-{name}" if name else ""
        return self.context.workdir / f"{self.part}{middle}-{self.kind}{suffix}"

    def helper(self, module: str, *args: str, log: str | None = None) -> HelperProcess:
        """Start ``python -m module --port P ARGS``; its output goes to ``log`` (a file name)."""
        name = log or f"{module.rpartition('.')[2].replace('_', '-')}.log"
        return self._stack.enter_context(HelperProcess(module, self.context.workdir / name, *args))

    def database(self, *, copy_of: BenchDatabase | None = None) -> BenchDatabase:
        """A fresh database of the rig's kind (see :func:`fresh_database`)."""
        return self._stack.enter_context(fresh_database(self.context, self.kind, copy_of=copy_of))

    def config(self, database: BenchDatabase, name: str = "", **settings: Any) -> Path:
        """A gateway config on ``database``; ``settings`` as for :func:`write_config`."""
        return write_config(self.path(name), database.url, **settings)

    def gateway(
        self, config: Path, *, log: str = "", env: dict[str, str] | None = None
    ) -> GatewayProcess:
        """Start ``smsgate serve`` with ``config``; it logs to ``<part>[-log]-<kind>.log``."""
        return self._stack.enter_context(GatewayProcess(config, self.path(log, ".log"), env=env))

    def closing(self, thing: ClosableT) -> ClosableT:
        """Close ``thing`` (a feeder, a writer) when the rig ends."""
        self._stack.callback(thing.close)
        return thing


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError as exc:
        raise BenchError(f"cannot read the CPU time of process {pid}: {exc}") from None
    # Fields 14 and 15 of stat (utime, stime), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_bytes(pid: int) -> int:
    """VmHWM of process ``pid``, from /proc, in bytes."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError as exc:
        raise BenchError(f"cannot read the memory of process {pid}: {exc}") from None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise BenchError(f"unexpected VmHWM unit {unit!r}")
            return int(value) * 1024
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


# --- profiling -------------------------------------------------------------------------


def find_py_spy() -> str:
    """The py-spy executable: ``$SMSGATE_BENCH_PY_SPY``, else the one on PATH or beside Python.

    ``pip install -e '.[dev]'`` puts one in the project's virtual environment.
    """
    beside = Path(sys.executable).parent / "py-spy"
    found = (
        os.environ.get("SMSGATE_BENCH_PY_SPY")
        or shutil.which("py-spy")
        or (str(beside) if beside.exists() else None)
    )
    if not found:
        raise BenchError(
            "--profile needs py-spy: `pip install py-spy` (into any environment), "
            "and put it on PATH or in SMSGATE_BENCH_PY_SPY"
        )
    return found


@contextlib.contextmanager
def profiled(py_spy: str, pid: int, path: Path, rate: int = 250) -> Iterator[Path]:
    """Sample process ``pid`` with py-spy while the block runs; collapsed stacks in ``path``.

    The file is py-spy's ``raw`` format, one ``frame;frame;… count`` line per stack, which
    speedscope and flame graph tools read; :func:`profile_shares` sums it up.
    """
    # Not --nonblocking: reading a running process loses deep stacks (phonenumbers, say)
    # more often than shallow ones, which skews the shares; pausing it costs some speed.
    command = [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    command += ["--output", str(path)]
    errors = path.with_name(path.name + ".log")
    with errors.open("wb") as stderr:
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    time.sleep(0.5)  # attaching takes a moment; samples before it would be lost anyway
    if sampler.poll() is not None:
        said = errors.read_text(encoding="utf-8", errors="replace").strip()
        raise BenchError(f"py-spy could not attach to process {pid}: {said}")
    try:
        yield path
    finally:
        sampler.send_signal(signal.SIGINT)
        try:
            sampler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()


#: Innermost frames of threads waiting for work, which py-spy does not always see as idle.
IDLE_FRAMES = (
    "_worker (concurrent/futures/thread.py",
    "Condition.wait (threading.py",
    "select (selectors.py",
    # Newer py-spy names methods with their class.
    "EpollSelector.select (selectors.py",
)


def profile_shares(path: Path, marks: Sequence[tuple[str, str]]) -> list[tuple[str, float]]:
    """The share of busy samples under each mark, in ``marks`` order, then ``other``.

    ``marks`` are ``(label, text)`` pairs, most specific first: a stack counts for the first
    mark whose text appears in one of its frames; a text starting with ``@`` must appear in
    the innermost frame (for code such as a middleware that every stack passes through).
    Idle samples are left out.
    """
    counts = dict.fromkeys([label for label, _ in marks] + ["other"], 0)
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        innermost = stack.rsplit(";", 1)[-1]
        if innermost.startswith(IDLE_FRAMES):
            continue
        total += int(count)
        label = next(
            (
                label
                for label, text in marks
                if (text[1:] in innermost if text.startswith("@") else text in stack)
            ),
            "other",
        )
        counts[label] += int(count)
    return [(label, count / total if total else 0.0) for label, count in counts.items()]


def profile_pass(
    context: Context,
    part: str,
    kind: str,
    pid: int,
    marks: Sequence[tuple[str, str]],
    what: str,
    work: Callable[[], object],
) -> dict[str, Any] | None:
    """With ``--profile``: sample process ``pid`` with py-spy while ``work()`` runs.

    An extra pass, not timed. Prints the shares of ``marks`` and returns them with the file
    of raw stacks (``<output>/<part>-<kind>-<timestamp>.pyspy.txt``); without ``--profile``
    does nothing and returns ``None``.
    """
    if not context.py_spy:
        return None
    stamp = now_utc().strftime("%Y%m%dT%H%M%SZ")
    path = context.output / f"{part}-{kind}-{stamp}.pyspy.txt"
    context.output.mkdir(parents=True, exist_ok=True)
    with profiled(context.py_spy, pid, path):
        work()
    shares = profile_shares(path, marks)
    say(part, f"{kind}: profile of {what} in {path} (busy samples):")
    for label, share in shares:
        say(part, f"  {share:6.1%}  {label}")
    return {"file": str(path), "shares": dict(shares)}


# --- timing ----------------------------------------------------------------------------


class Stopwatch:
    """Wall-clock seconds of a ``with`` block, from :func:`time.perf_counter`."""

    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


@dataclass(frozen=True)
class Spent:
    """Wall-clock seconds of a line's round, and CPU seconds of the process doing the work."""

    seconds: float
    cpu: float = 0.0


def round_sizes(total: int, rounds: int) -> list[int]:
    """``total`` split into ``rounds`` shares as even as can be, the larger ones first."""
    share, extra = divmod(total, rounds)
    return [share + (1 if i < extra else 0) for i in range(rounds)]


class Tally:
    """Wall-clock and CPU seconds per line, summed over the rounds."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)

    def add(self, line: str, spent: Spent) -> None:
        """Count one round of ``line``."""
        self.seconds[line] += spent.seconds
        self.cpu[line] += spent.cpu

    def rates(self, amount: int) -> dict[str, float]:
        """``amount`` (the work of each line) per second, for each line."""
        return {line: amount / spent for line, spent in self.seconds.items()}


def take_turns(
    tally: Tally,
    total: int,
    rounds: int,
    lines: Sequence[tuple[str, Callable[[int], Spent]]],
) -> Tally:
    """Measure each of ``lines`` on ``total`` units of work, the lines taking turns.

    Each line gets a share of ``total`` per round, in ``lines`` order, so that a slow
    moment of the machine falls on every side of a ratio. ``lines`` are ``(name,
    measure)`` pairs; ``measure(count)`` does ``count`` units of fresh work and says
    what it took.
    """
    for count in round_sizes(total, rounds):
        for line, measure in lines:
            tally.add(line, measure(count))
    return tally


# --- reporting -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def postgres_version(admin_url: str) -> str | None:
    """The PostgreSQL server's version, or ``None`` when it cannot be reached."""
    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as connection:
            return str(connection.exec_driver_sql("SHOW server_version").scalar())
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


def write_results(
    output: Path, part: str, context: Context, results: Sequence[Result], started: datetime
) -> Path:
    """Write ``results`` to ``output/<part>-<timestamp>.json`` and return the path."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"{part}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "part": part,
        "started": started.isoformat(),
        "size": asdict(context.size),
        "databases": list(context.databases),
        "machine": {**machine(), "postgresql": postgres_version(context.postgres_admin_url)},
        "results": [
            {**asdict(result), "ratio": result.ratio, "passed": result.passed} for result in results
        ],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def format_table(results: Sequence[Result]) -> str:
    """The results as a plain-text table, one line per measurement."""
    header = (
        "part",
        "database",
        "line",
        "rate",
        "ceiling",
        "ratio",
        "target",
        "result",
        "peak RSS",
    )
    rows = [header]
    for r in results:
        rss = f"{r.peak_rss_bytes / 2**20:.0f} MB" if r.peak_rss_bytes else "-"
        rows.append(
            (
                r.part,
                r.database,
                r.line,
                f"{r.rate:,.0f} {r.unit}",
                f"{r.ceiling:,.0f} ({r.ceiling_label})",
                f"{r.ratio:.2f}",
                _target_text(r),
                _verdict(r),
                rss,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _target_text(result: Result) -> str:
    if result.target is None:
        return "-" if result.aim is None else f"aim >= {result.aim:.2f}"
    return f"{'>=' if result.higher_is_better else '<='} {result.target:.2f}"


def _verdict(result: Result) -> str:
    if result.passed is None and result.aim is not None:
        return "met" if result.ratio >= result.aim else "below"
    return {True: "pass", False: "FAIL", None: "info"}[result.passed]


def say(part: str, text: str) -> None:
    """A progress line of ``part``."""
    print(f"  {part}: {text}", flush=True)


def now_utc() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
