"""Ingest: how fast the gateway accepts CleverTap's 1000-record batches, against a ceiling.

For each database kind, in two phases:

1. Three lines take turns in rounds:

   * **ceiling**: the rows the gateway would store for the batches of the 1 client line,
     prepared beforehand with :func:`smsgate.intake.records.prepare_record` (not timed),
     inserted into a fresh migrated database with one SQLAlchemy Core ``executemany`` and
     one commit per 1000-row batch, through an engine from
     :func:`smsgate.storage.database.create_engine` (the gateway's own settings);
   * **1 client**: batches posted one after another to ``smsgate serve`` on another fresh
     database; a batch counts once the gateway answered 202 with ``accepted: 1000``, which
     it does only after the commit;
   * **2 clients**: as many other batches, from two concurrent clients.

2. Two gateways, one on an empty database and one on a database pre-filled with Core
   inserts (not timed) to ``size.prefill`` messages, take turns with the 1 client line;
   Core writers into the same two databases take turns too, as a line shown for
   information: how much of the slowdown is the database's own.

Every message has a distinct realistic Indian mobile number and a distinct CleverTap-like
``$$MessageID``; bodies mix OTPs, two-segment promotions and Hindi (UCS-2) texts.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from bench.harness import (
    NICKNAME,
    TOKEN,
    BenchError,
    Context,
    GatewayProcess,
    Result,
    Stopwatch,
    fresh_database,
    now_utc,
    profile_pass,
    say,
)
from smsgate.intake.records import Rejection, prepare_record
from smsgate.storage.database import create_engine
from smsgate.storage.models import Message

PART = "ingest"
BATCH = 1000
RATIO_TARGET = 0.5
FULL_TABLE_TARGET = 0.8
MESSAGES = Message.__table__  # type: ignore[attr-defined]

# A DLT content template id, as Indian senders register them; sent as a global key.
TEMPLATE_ID = "1107168613794012345"
_ACCOUNT = 1_200_000_000
_EPOCH = 1_718_000_000
# Multiplying by a constant coprime to the range spreads serial numbers over every
# 10-digit mobile number starting 6-9 without repeating one: distinct, and realistic.
_SUBSCRIBER_SPAN = 4_000_000_000
_SUBSCRIBER_FIRST = 6_000_000_000
_SPREAD = 2_654_435_761

_OTP = "{code} is your ACME verification code. It is valid for 10 minutes. Do not share it. -ACME"
_PROMO = (
    "Hi! Your ACME Gold membership {code} renews soon: renew before the 30th and get 20% off "
    "your next three orders, free delivery on everything and early access to our summer sale. "
    "T&C apply. -ACME"
)
_HINDI = "आपका ACME सत्यापन कोड {code} है। यह 10 मिनट तक मान्य है। इसे किसी के साथ साझा न करें।"

#: Where the gateway's time goes, most specific first (see :func:`profile_shares`).
PROFILE_MARKS = (
    ("number normalisation (phonenumbers)", "normalise_number"),
    ("segment counting", "segment_info"),
    ("rest of prepare_record", "prepare_record"),
    ("INSERT … ON CONFLICT DO NOTHING (Core executemany)", "_insert_new"),
    ("rest of store_records (BEGIN, COMMIT, dedup)", "store_records"),
    ("JSON decoding", "records_from_json"),
    ("reading the body", "read_body"),
    ("rest of the handler", "clevertap.py"),
    ("uvicorn, Starlette, asyncio", "uvicorn"),
)


# --- the workload ----------------------------------------------------------------------


def _subscriber(serial: int) -> int:
    return _SUBSCRIBER_FIRST + (serial * _SPREAD) % _SUBSCRIBER_SPAN


def _message_id(msisdn: str, serial: int) -> str:
    # The shape of CleverTap's ids: <recipient>.<account>.<epoch>.<yyyymmdd>.0.<pivot>.-1
    epoch = _EPOCH + serial // 7
    day = datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d")
    return f"{msisdn}.{_ACCOUNT}.{epoch}.{day}.0.wzrk_default.-1"


def _body(serial: int) -> str:
    code = f"{(serial * 7919) % 1_000_000:06d}"
    kind = serial % 10
    template = _HINDI if kind == 0 else _PROMO if kind <= 3 else _OTP
    return template.format(code=code)


def make_record(serial: int) -> dict[str, Any]:
    """The ``serial``-th CleverTap record of a run; every serial gives a different message."""
    msisdn = f"91{_subscriber(serial)}"
    return {
        "to": f"+{msisdn}",
        "body": _body(serial),
        "message_id": _message_id(msisdn, serial),
        "campaign_id": str(1_718_000_000 + serial // 50_000),
    }


class Serials:
    """Hands out fresh serial numbers, so that no two lines send the same message."""

    def __init__(self) -> None:
        self._next = 0

    def take(self, count: int) -> range:
        """The next ``count`` serials."""
        start = self._next
        self._next += count
        return range(start, start + count)


def make_batches(serials: Serials, batches: int) -> list[list[dict[str, Any]]]:
    """``batches`` lists of 1000 fresh records."""
    return [[make_record(serial) for serial in serials.take(BATCH)] for _ in range(batches)]


def encode_batch(records: Sequence[dict[str, Any]]) -> bytes:
    """A batch as CleverTap posts it: the template id as a global key, records under messages."""
    document = {"template_id": TEMPLATE_ID, "messages": list(records)}
    return json.dumps(document, ensure_ascii=False).encode()


def prepare_rows(records: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The messages rows the gateway stores for ``records`` (sent with the global keys)."""
    rows = []
    for index, record in enumerate(records):
        row = prepare_record(
            index,
            {"template_id": TEMPLATE_ID, **record},
            nickname=NICKNAME,
            default_country="IN",
            now=now,
        )
        if isinstance(row, Rejection):
            raise BenchError(f"generated record {record} was rejected: {row.error}")
        rows.append(row)
    return rows


# --- the ways of storing ---------------------------------------------------------------


class CoreWriter:
    """The ceiling: Core ``executemany`` of ready rows, one transaction per batch."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.insert = sa.insert(MESSAGES)
        self.stored = 0

    def write(self, batches: Sequence[list[dict[str, Any]]]) -> float:
        """Seconds to insert and commit ``batches``, prepared before the clock starts."""
        now = now_utc()
        prepared = [prepare_rows(batch, now) for batch in batches]
        with Stopwatch() as watch:
            for rows in prepared:
                with self.engine.begin() as connection:
                    connection.execute(self.insert, rows)
        self.stored += sum(len(rows) for rows in prepared)
        return watch.seconds

    def check(self) -> None:
        """Raise unless every row written is stored."""
        _expect_rows(self.engine, self.stored)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


def post_batches(url: str, batches: Sequence[list[dict[str, Any]]], clients: int) -> float:
    """Seconds for ``clients`` concurrent clients to have every batch accepted.

    Bodies are encoded before the clock starts: the client's work is not the gateway's.
    """
    bodies = [encode_batch(batch) for batch in batches]
    shares = [bodies[i::clients] for i in range(clients)]
    start = threading.Barrier(clients + 1)
    errors: list[Exception] = []

    def client(share: Sequence[bytes]) -> None:
        try:
            with httpx.Client(
                base_url=url,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                timeout=120.0,
            ) as http:
                http.get("/healthz")  # open the connection before the clock starts
                start.wait()
                for body in share:
                    _expect_accepted(http.post(f"/clevertap/{NICKNAME}", content=body))
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, raised there
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start.wait()
    with Stopwatch() as watch:
        for thread in threads:
            thread.join()
    if errors:
        raise BenchError(f"a client failed: {errors[0]!r}") from errors[0]
    return watch.seconds


def _expect_accepted(response: httpx.Response) -> None:
    if response.status_code != 202:
        raise BenchError(f"the gateway answered {response.status_code}: {response.text[:300]}")
    answer = response.json()
    if answer.get("accepted") != BATCH:
        raise BenchError(f"the gateway did not accept the whole batch: {answer}")


def _expect_rows(engine: sa.Engine, expected: int) -> None:
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(MESSAGES)).scalar()
    if stored != expected:
        raise BenchError(f"{stored} messages stored, {expected} expected")


# --- pre-filling -----------------------------------------------------------------------


def prefill(url: str, serials: Serials, count: int, seed_rows: int = 10_000) -> int:
    """Store about ``count`` more messages shaped as the gateway stores them; not timed.

    ``seed_rows`` realistic rows go in by Core executemany; the rest are Core
    ``INSERT … SELECT`` copies of them with a suffix on the message id, so that the unique
    index holds distinct, randomly spread ids as it would in production. All of it is one
    transaction, and SQLite writes it without a journal or fsync: seconds instead of
    minutes, and a crash would only spoil this run. Returns the number of messages stored.
    """
    now = now_utc()
    template = prepare_rows([make_record(0)], now)[0]
    seed = min(seed_rows, count)
    rows = []
    for serial in serials.take(seed):
        record = make_record(serial)
        rows.append(
            {
                **template,
                "to": record["to"],
                "raw_to": record["to"],
                "message_id": record["message_id"],
                "body": record["body"],
                "campaign_id": record["campaign_id"],
            }
        )
    copies = (count - seed) // seed if seed else 0
    columns = [column for column in MESSAGES.columns if column.name != "id"]
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        sa.event.listen(engine, "connect", _bulk_load_pragmas)
    try:
        with engine.begin() as connection:
            first = connection.execute(sa.select(sa.func.coalesce(sa.func.max(MESSAGES.c.id), 0)))
            after = int(first.scalar_one())
            connection.execute(sa.insert(MESSAGES), rows)
            for copy in range(1, copies + 1):
                suffix = f"-{copy:03d}"
                source = sa.select(
                    *[
                        column + suffix if column.name == "message_id" else column
                        for column in columns
                    ]
                ).where(MESSAGES.c.id > after, MESSAGES.c.id <= after + seed)
                connection.execute(sa.insert(MESSAGES).from_select(columns, source))
    finally:
        engine.dispose()
    maintenance = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as connection:
            if sqlite:
                # Back to the gateway's journal; the mode is stored in the file.
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            else:
                # What autovacuum would do on its own some time after a bulk load; done now
                # so that it does not run, by chance, in the middle of a timed round.
                connection.exec_driver_sql("VACUUM ANALYZE messages")
    finally:
        maintenance.dispose()
    return seed * (1 + copies)


def _bulk_load_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=OFF")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA cache_size=-524288")  # 512 MiB: every page is written once
    cursor.close()


# --- the part --------------------------------------------------------------------------


def run(context: Context) -> list[Result]:
    """Measure ingest on each database kind of ``context``."""
    results: list[Result] = []
    for kind in context.databases:
        results += _measure(context, kind)
    return results


def _rounds(context: Context) -> list[int]:
    """How many batches each round sends per line."""
    size = context.size
    share, extra = divmod(size.batches, size.rounds)
    return [share + (1 if i < extra else 0) for i in range(size.rounds)]


def _measure(context: Context, kind: str) -> list[Result]:
    size = context.size
    messages = size.batches * BATCH
    serials = Serials()
    seconds: defaultdict[str, float] = defaultdict(float)  # per line, over the rounds
    log = context.workdir / f"gateway-{kind}.log"
    rss: dict[str, int | None] = {}
    profile: dict[str, Any] | None = None

    say(PART, f"{kind}: ceiling, 1 client and 2 clients in {size.rounds} rounds")
    with (
        fresh_database(context, kind) as ceiling_db,
        fresh_database(context, kind) as gateway_db,
    ):
        writer = CoreWriter(ceiling_db.url)
        try:
            with GatewayProcess(gateway_db.config, log) as gateway:
                writer.write(make_batches(serials, size.warmup))
                post_batches(gateway.url, make_batches(serials, size.warmup), 1)
                for count in _rounds(context):
                    batches = make_batches(serials, count)
                    seconds["ceiling"] += writer.write(batches)
                    seconds["1 client"] += post_batches(gateway.url, batches, 1)
                    seconds["2 clients"] += post_batches(
                        gateway.url, make_batches(serials, count), 2
                    )
                profile = profile_pass(
                    context,
                    PART,
                    kind,
                    gateway.pid,
                    PROFILE_MARKS,
                    "the 1 client line",
                    lambda: post_batches(gateway.url, make_batches(serials, size.batches), 1),
                )
            writer.check()
        finally:
            writer.close()
        rss["first"] = gateway.peak_rss_bytes

    with contextlib.ExitStack() as stack:
        empty_db = stack.enter_context(fresh_database(context, kind))
        full_db = stack.enter_context(fresh_database(context, kind))
        say(PART, f"{kind}: filling a database with {size.prefill:,} messages (not timed)")
        with Stopwatch() as fill:
            stored = prefill(full_db.url, serials, size.prefill)
        # Core writers on databases of their own, taking turns too, show how much of a
        # slowdown is the database's own.
        core_empty_db = stack.enter_context(fresh_database(context, kind))
        core_full_db = stack.enter_context(fresh_database(context, kind, copy_of=full_db))
        say(PART, f"{kind}: filled in {fill.seconds:.0f} s; empty and full tables in turns")
        empty_writer = CoreWriter(core_empty_db.url)
        stack.callback(empty_writer.close)
        full_writer = CoreWriter(core_full_db.url)
        stack.callback(full_writer.close)
        empty = stack.enter_context(GatewayProcess(empty_db.config, log))
        full = stack.enter_context(GatewayProcess(full_db.config, log))
        post_batches(empty.url, make_batches(serials, size.warmup), 1)
        post_batches(full.url, make_batches(serials, size.warmup), 1)
        empty_writer.write(make_batches(serials, size.warmup))
        full_writer.write(make_batches(serials, size.warmup))
        stored += size.warmup * BATCH
        for count in _rounds(context):
            seconds["empty"] += post_batches(empty.url, make_batches(serials, count), 1)
            seconds["full"] += post_batches(full.url, make_batches(serials, count), 1)
            seconds["Core, empty"] += empty_writer.write(make_batches(serials, count))
            seconds["Core, full"] += full_writer.write(make_batches(serials, count))
        empty.stop()
        full.stop()
        rss["full"] = full.peak_rss_bytes

    rate = {line: messages / spent for line, spent in seconds.items()}
    details: dict[str, Any] = {
        "messages_per_line": messages,
        "rounds": size.rounds,
        "seconds_per_line": dict(seconds),
    }

    def against_core(line: str, extra: dict[str, Any]) -> Result:
        return Result(
            part=PART,
            database=kind,
            line=line,
            rate=rate[line],
            unit="msg/s",
            ceiling=rate["ceiling"],
            ceiling_label="Core insert",
            target=RATIO_TARGET,
            peak_rss_bytes=rss["first"],
            details={**details, **extra},
        )

    return [
        against_core("1 client", {"profile": profile} if profile else {}),
        against_core("2 clients", {}),
        Result(
            part=PART,
            database=kind,
            line=f"1 client, {stored:,} stored",
            rate=rate["full"],
            unit="msg/s",
            ceiling=rate["empty"],
            ceiling_label="empty table",
            target=FULL_TABLE_TARGET,
            peak_rss_bytes=rss["full"],
            details={**details, "stored_before": stored},
        ),
        Result(
            part=PART,
            database=kind,
            line=f"Core insert, {stored:,} stored",
            rate=rate["Core, full"],
            unit="msg/s",
            ceiling=rate["Core, empty"],
            ceiling_label="Core, empty table",
            target=None,
            details={**details, "stored_before": stored},
        ),
    ]
