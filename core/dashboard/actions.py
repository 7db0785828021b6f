"""The dashboard's POSTs: retry, resend, cancel and give up, on one row or several.

Each checks the session's CSRF token, runs the action of :mod:`smsgate.admin.actions` for
every id it names, then redirects back with a one-line summary (done, and each refusal's
reason). Resending an ``unknown`` message needs the form's consent box ticked: the vendor
may have it already.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from smsgate.admin import actions
from smsgate.admin.queries import parse_id
from smsgate.dashboard.session import check_post
from smsgate.errors import ActionRefusedError, RequestError
from smsgate.host.api import wake_relay
from smsgate.host.gateway import Gateway
from smsgate.host.redaction import hide_secrets
from smsgate.storage.models import utcnow

__all__ = ["message_action", "relay_action", "unknown_action"]

#: Most rows one bulk action touches.
_BULK_LIMIT = 500


async def message_action(request: Request) -> Response:
    """``POST /dashboard/messages/{id}/{retry|resend|cancel}``."""
    fields = await check_post(request)
    form = dict(fields)
    pk = parse_id(request.path_params["id"])
    if pk is None:
        raise RequestError(404, "no such message: the id is a number, as in the message's URL")
    action = request.path_params["action"]
    if action not in ("retry", "resend", "cancel"):
        raise RequestError(404, "no such action")
    if action == "resend" and form.get("consent") != "yes":
        return _back(
            request,
            f"/dashboard/messages/{pk}",
            ("error", "Not resent: tick the box to accept that it may arrive twice."),
        )
    done, refused = await _run(request, action, [pk], form)
    return _back(request, f"/dashboard/messages/{pk}", _summary(done, refused))


async def relay_action(request: Request) -> Response:
    """``POST /dashboard/relays/action``: retry or give up the ticked records."""
    fields = await check_post(request)
    form = dict(fields)
    action = form.get("action", "")
    if action not in ("retry_relay", "give_up_relay"):
        raise RequestError(400, "choose Retry or Give up")
    ids = _ids(fields)
    if not ids:
        return _back(request, form.get("back"), ("error", "Tick at least one record first."))
    done, refused = await _run(request, action, ids, form)
    return _back(request, form.get("back"), _summary(done, refused))


async def unknown_action(request: Request) -> Response:
    """``POST /dashboard/unknown/action``: resend (with consent) or give up the ticked messages."""
    fields = await check_post(request)
    form = dict(fields)
    action = form.get("action", "")
    if action not in ("resend", "cancel"):
        raise RequestError(400, "choose Resend or Give up")
    ids = _ids(fields)
    if not ids:
        return _back(request, form.get("back"), ("error", "Tick at least one message first."))
    if action == "resend" and form.get("consent") != "yes":
        return _back(
            request,
            form.get("back"),
            ("error", "Not resent: tick the box to accept that they may arrive twice."),
        )
    # The page listed them as unknown: one another operator resent meanwhile is not.
    done, refused = await _run(request, action, ids, form, only_if="unknown")
    return _back(request, form.get("back"), _summary(done, refused))


async def _run(
    request: Request,
    action: str,
    ids: Sequence[int],
    form: dict[str, str],
    *,
    only_if: str | None = None,
) -> tuple[list[str], list[str]]:
    gateway: Gateway = request.app.state.gateway
    validity = gateway.config.settings.gateway.dispatch.validity
    done: list[str] = []
    refused: list[str] = []
    for pk in ids:
        now = utcnow()
        call: Callable[[], str | None]
        if action in ("retry", "resend"):
            call = functools.partial(
                actions.retry_message,
                gateway.engine,
                pk,
                now=now,
                validity=validity,
                by="dashboard",
                resend_unknown=action == "resend",
                only_if=only_if,
            )
        elif action == "cancel":
            call = functools.partial(
                actions.cancel_message,
                gateway.engine,
                pk,
                now=now,
                by="dashboard",
                code=form.get("code") or "900",
                # It goes to CleverTap: masked whole before the cut could split a secret.
                description=hide_secrets((form.get("description") or "").strip())[:512] or None,
                only_if=only_if,
            )
        else:
            relay = actions.retry_relay if action == "retry_relay" else actions.give_up_relay
            call = functools.partial(relay, gateway.engine, pk, now=now, by="dashboard")
        try:
            result = await run_in_threadpool(call)
        except ActionRefusedError as exc:
            refused.append(exc.reason)
            continue
        except ValueError as exc:
            refused.append(str(exc))
            continue
        if result is None:
            refused.append(f"{pk}: no such row")
        else:
            done.append(result)
    if done and action in ("retry", "resend"):
        gateway.notify_accepted()
    if done and action in ("cancel", "retry_relay"):
        wake_relay(request)
    return done, refused


def _ids(fields: Sequence[tuple[str, str]]) -> list[int]:
    ids = []
    for key, value in fields:
        pk = parse_id(value) if key == "ids" else None
        if pk is not None:
            ids.append(pk)
    return list(dict.fromkeys(ids))[:_BULK_LIMIT]


def _summary(done: Sequence[str], refused: Sequence[str]) -> tuple[str, str]:
    if len(done) == 1 and not refused:
        return "ok", done[0][0].upper() + done[0][1:] + "."
    parts = []
    if done:
        parts.append(f"{len(done)} done")
    if refused:
        first = refused[0][0].upper() + refused[0][1:]
        more = f" (and {len(refused) - 1} more refused)" if len(refused) > 1 else ""
        parts.append(f"{len(refused)} refused: {first}{more}")
    return ("error" if refused else "ok"), "; ".join(parts) + "."


def _back(request: Request, target: str | None, flash: tuple[str, str]) -> Response:
    request.session["flash"] = list(flash)
    path = target if target and target.startswith("/dashboard/") and "//" not in target else None
    return RedirectResponse(path or "/dashboard/", status_code=303)
