"""``smsgate messages list|show|retry|cancel``, ``smsgate stats`` and ``smsgate purge``.

They work on the database named by the configuration, with or without a running server,
through the same functions as the dashboard and the admin API (:mod:`smsgate.admin`).
``--json`` prints the admin API's shapes. Exit status: 0 done, 1 refused (the reason is
printed) or the database cannot be used, 2 a wrong option.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from smsgate.admin import actions, queries, stats
from smsgate.admin.durations import parse_duration, parse_moment
from smsgate.admin.purge import count_purgeable, purge
from smsgate.admin.views import MessageDetail
from smsgate.config import Config
from smsgate.errors import ActionRefusedError, SmsgateError
from smsgate.host.redaction import mask_data, register_config
from smsgate.storage.models import MessageStatus, utcnow

__all__ = ["messages", "purge_command", "stats_command"]

CANNOT_WORK = 1
USAGE_ERROR = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The TOML file; default: $SMSGATE_CONFIG, else ./smsgate.toml.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _load(config_path: Path | None) -> Config:
    from smsgate.cli.main import _load as load

    config = load(config_path)
    register_config(config)
    return config


@contextmanager
def _database(config: Config) -> Iterator[Engine]:
    from smsgate.cli.startup import describe_startup_error
    from smsgate.storage.database import check_schema, create_engine, file_gone

    engine = create_engine(config.database_url)
    missing = file_gone(engine)
    if missing is not None:
        # Opening it would create an empty database where a mistyped path led.
        engine.dispose()
        raise click.ClickException(
            f"there is no database at {missing}; check gateway.database_url in {config.path}"
        )
    try:
        try:
            check_schema(engine)
        except (SmsgateError, DBAPIError) as exc:
            raise click.ClickException(describe_startup_error(exc, config)) from None
        try:
            yield engine
        # Past the schema check the database answered: another driver error is a bug.
        except OperationalError as exc:
            raise click.ClickException(describe_startup_error(exc, config)) from None
    finally:
        engine.dispose()


def _print_json(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    click.echo(json.dumps(mask_data(data), indent=2, ensure_ascii=False))


def _body(detail: Any) -> str:
    if detail.body is not None:
        return str(detail.body)
    return "(from the template)" if detail.template_id else "-"


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    line = "  ".join(f"{header:<{width}}" for header, width in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in rows:
        click.echo("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip())


@click.group()
def messages() -> None:
    """Find messages, show one, send one again or cancel it."""


@messages.command("list")
@config_option
@click.option("--nickname", help="Only this provider nickname.")
@click.option("--status", help="A status, or several comma-separated (failed,unknown).")
@click.option("--number", help="The recipient, in any form (+91 98765 43210, 09876543210).")
@click.option("--message-id", help="CleverTap's $$MessageID, exactly.")
@click.option("--campaign", help="CleverTap's $$CampaignID, exactly.")
@click.option("--since", help="Created at or after: ISO 8601 (UTC) or a duration ago (1h, 7d).")
@click.option("--until", help="Created before: ISO 8601 (UTC) or a duration ago.")
@click.option("--limit", type=click.IntRange(1, queries.MAX_LIMIT), default=20, show_default=True)
@click.option("--cursor", help="Where the previous page ended (printed below it).")
@json_option
def list_messages(
    config_path: Path | None,
    nickname: str | None,
    status: str | None,
    number: str | None,
    message_id: str | None,
    campaign: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List messages, newest first."""
    now = utcnow()
    try:
        filters = queries.MessageFilter(
            nickname=queries.clean_text(nickname, "--nickname"),
            statuses=queries.parse_statuses(status),
            number=queries.clean_text(number, "--number"),
            message_id=queries.clean_text(message_id, "--message-id"),
            campaign_id=queries.clean_text(campaign, "--campaign"),
            since=parse_moment(since, now) if since else None,
            until=parse_moment(until, now) if until else None,
        )
        after = queries.decode_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    config = _load(config_path)
    countries = {p.settings.default_country for p in config.providers.values()}
    with _database(config) as engine:
        page = queries.search_messages(
            engine, filters, countries=countries, limit=limit, cursor=after
        )
    if as_json:
        _print_json(page)
        return
    if not page.items:
        unknown = nickname is not None and nickname not in config.providers
        # Messages of a nickname since removed from the file are still found, so only a hint.
        hint = f" (no nickname {nickname!r} is configured)" if unknown else ""
        click.echo(f"no message matches{hint}")
        return
    _table(
        ["ID", "CREATED (UTC)", "NICKNAME", "TO", "STATUS", "CODE", "MESSAGE ID"],
        [
            [
                str(row.id),
                _when(row.created_at),
                row.nickname,
                row.to or "-",
                row.status,
                row.failure_code or "",
                row.message_id,
            ]
            for row in page.items
        ],
    )
    if page.next_cursor:
        click.echo(f"\nmore: add --cursor {page.next_cursor}")


def _find(engine: Engine, key: str) -> MessageDetail:
    pk = queries.parse_id(key)
    if pk is not None:
        found = queries.get_message(engine, pk)
        if found is not None:
            return found
    matches = queries.messages_by_message_id(engine, key)
    if len(matches) == 1:
        detail = queries.get_message(engine, matches[0].id)
        if detail is not None:
            return detail
    if len(matches) > 1:
        ids = ", ".join(f"{m.id} ({m.nickname})" for m in matches)
        raise click.ClickException(
            f"{len(matches)} messages have that message id: {ids}; use the id"
        )
    raise click.ClickException(f"no message has the id or message id {key!r}")


@messages.command("show")
@config_option
@click.argument("key")
@json_option
def show_message(config_path: Path | None, key: str, as_json: bool) -> None:
    """Show one message (by smsgate's id or CleverTap's message id) and its timeline."""
    config = _load(config_path)
    with _database(config) as engine:
        detail = _find(engine, key)
    detail.actions = actions.available(
        detail.status,
        detail.to,
        detail.created_at,
        detail.next_attempt_at,
        now=utcnow(),
        validity=config.settings.gateway.dispatch.validity,
    )
    if as_json:
        _print_json(detail)
        return
    facts = [
        ("id", str(detail.id)),
        ("status", detail.status + (f" {detail.failure_code}" if detail.failure_code else "")),
        ("failure", detail.failure_description or ""),
        (
            "nickname",
            detail.nickname
            + (f" (sent via {detail.route})" if detail.route != detail.nickname else ""),
        ),
        ("message id", detail.message_id + ("" if detail.tracked else " (untracked)")),
        ("to", f"{detail.to or '-'} (sent as {detail.raw_to})"),
        ("campaign", detail.campaign_id or "-"),
        ("template", detail.template_id or "-"),
        ("vendor id", detail.vendor_id or "-"),
        ("attempts", str(detail.attempts)),
        ("created", _when(detail.created_at) + " UTC"),
        ("body", _body(detail)),
        ("actions", ", ".join(detail.actions) or "none"),
    ]
    for name, value in facts:
        if value:
            click.echo(f"{name:>11}: {mask_data(value)}")
    click.echo("\ntimeline:")
    for event in detail.events:
        words = " ".join(
            part for part in (event.status or "", event.code or "", event.description or "") if part
        )
        click.echo(f"  {_when(event.recorded_at)}  {event.kind:<14} {mask_data(words)}".rstrip())
    if detail.relays:
        click.echo("\nCleverTap records:")
        for relay in detail.relays:
            error = f"  {mask_data(relay.last_error)}" if relay.last_error else ""
            click.echo(
                f"  {relay.id}  {relay.event:<9} {relay.state:<8} tries {relay.attempts}{error}"
            )


@messages.command("retry")
@config_option
@click.argument("message", type=int)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Resend a message whose fate is unknown, accepting that it may arrive twice.",
)
def retry_message(config_path: Path | None, message: int, resend_unknown: bool) -> None:
    """Send message MESSAGE (smsgate's id) again.

    A failed message is queued again; an accepted one waiting for its backoff is sent now;
    an unknown one (the vendor may have it) only with --resend-unknown. A running gateway
    picks it up within its poll interval.
    """
    config = _load(config_path)
    with _database(config) as engine:
        try:
            done = actions.retry_message(
                engine,
                message,
                now=utcnow(),
                validity=config.settings.gateway.dispatch.validity,
                by="cli",
                resend_unknown=resend_unknown,
            )
        except ActionRefusedError as exc:
            raise click.ClickException(exc.reason) from None
    if done is None:
        raise click.ClickException(f"no message with id {message}")
    click.echo(done)


@messages.command("cancel")
@config_option
@click.argument("message", type=int)
@click.option("--code", default="900", show_default=True, help="CleverTap's failure code.")
@click.option("--description", default=None, help="What CleverTap is told.")
def cancel_message(
    config_path: Path | None, message: int, code: str, description: str | None
) -> None:
    """Fail MESSAGE (accepted, or unknown) with a code; CleverTap is told it failed."""
    config = _load(config_path)
    with _database(config) as engine:
        try:
            done = actions.cancel_message(
                engine, message, now=utcnow(), by="cli", code=code, description=description
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        except ActionRefusedError as exc:
            raise click.ClickException(exc.reason) from None
    if done is None:
        raise click.ClickException(f"no message with id {message}")
    click.echo(done)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


@click.command("stats")
@config_option
@json_option
def stats_command(config_path: Path | None, as_json: bool) -> None:
    """Per nickname: last hour and day by status, delivery rate, DLR latency, queues, circuit."""
    config = _load(config_path)
    with _database(config) as engine:
        figures = stats.overview(engine, config, utcnow())
    if as_json:
        _print_json(figures)
        return
    shown = [s.value for s in MessageStatus]
    rows = []
    for n in figures.nicknames:
        for label, window in (("1h", n.last_hour), ("24h", n.last_day)):
            rows.append(
                [
                    n.nickname if label == "1h" else "",
                    label,
                    str(window.total),
                    *(str(window.counts[status]) for status in shown),
                    _rate(window.delivery_rate),
                    f"{_secs(window.dlr_p50_seconds)}/{_secs(window.dlr_p95_seconds)}",
                ]
            )
    _table(["NICKNAME", "WINDOW", "SENT", *(s.upper() for s in shown), "RATE", "DLR P50/P95"], rows)
    click.echo("")
    _table(
        [
            "NICKNAME",
            "CIRCUIT",
            "QUEUE",
            "SENDING",
            "UNKNOWN",
            "RELAY BACKLOG",
            "DEAD RELAYS",
            "UNMATCHED",
        ],
        [
            [
                n.nickname,
                n.circuit.state,
                str(n.queue_depth),
                str(n.sending),
                str(n.unknown),
                str(n.relay_backlog),
                str(n.dead_relays),
                str(n.unmatched_reports),
            ]
            for n in figures.nicknames
        ],
    )


@click.command("purge")
@config_option
@click.option(
    "--older-than", required=True, help="Delete messages created longer ago than this (90d)."
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def purge_command(
    config_path: Path | None, older_than: str, batch_size: int, dry_run: bool
) -> None:
    """Delete old messages with their events and relay records, in batches.

    Also runs in `smsgate serve` every hour when [gateway] purge_after is set.
    """
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    config = _load(config_path)
    settings = config.settings.gateway
    too_soon = settings.purge_too_soon(age)
    if too_soon:
        raise click.BadParameter(too_soon, param_hint="--older-than")
    now = utcnow()
    before = now - age
    # A relay record queued longer ago than this no longer keeps its message.
    abandoned = now - timedelta(seconds=settings.delivery.relay_give_up_after)
    with _database(config) as engine:
        if dry_run:
            # The very query the purge runs: messages whose relay is awaited are not counted.
            total = count_purgeable(engine, before, abandoned_before=abandoned)
            click.echo(f"{total} message(s) created before {_when(before)} UTC would be deleted")
            return
        report = purge(engine, before, batch_size=batch_size, abandoned_before=abandoned)
    click.echo(
        f"deleted {report.messages} message(s), {report.events} event(s), {report.relays} "
        f"relay record(s) and {report.reports} unmatched report(s) from before {_when(before)} UTC"
    )
