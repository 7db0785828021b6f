"""Delivery reports: from a vendor's report to the message's status and to CleverTap, once.

The life of a report::

    vendor ──GET/POST /callbacks/{nickname}/{token}──▶ plugin.parse_callback ──▶ events
        events ──match (route, vendor id[, number])──▶ message status (monotonic) + event
                      │                                  └─ final / click / reply ─▶ relay_outbox
                      └─ no such vendor id yet ─▶ delivery_inbox ──send result stored──▶ matched
    relay_outbox ──relay tasks, ≤100 per POST, grouped by event──▶ clevertap_callback_url

- Receiving (:mod:`smsgate.host.callbacks`): the vendor gets its 200 once the events are
  committed, also for duplicates and for reports not matched yet; 404 for a wrong nickname
  or token (without saying which), 400 for what the plugin cannot parse, 503 when the
  plugin is broken or the database is down (the vendor will retry), never 500.
- Matching and the inbox (:mod:`~smsgate.delivery.matching`); applying a report
  (:mod:`~smsgate.delivery.status`): statuses only move up their rank, terminal ones never
  change, duplicates change nothing, a report without a code keeps the stored code, and
  every report is kept as a message event with its raw fields, secrets masked.
- The outbox (:mod:`~smsgate.delivery.outbox`): one row per (message, event), added in the
  transaction that makes the status final, from every path: reports, the intake's rejects,
  the dispatcher's failures and expiries. The relay (:mod:`~smsgate.delivery.relay`) sends
  CleverTap's format (:mod:`~smsgate.delivery.clevertap`) and settles each row done, dead
  (refused; kept for operators) or due again later (5xx, timeouts: exponential backoff from
  10 minutes, as CleverTap advises).
- Lookups (:mod:`~smsgate.delivery.lookup`): a message submitted without a final report
  after ``lookup_after`` is asked about through the optional ``lookup_status`` hook; what
  is learned goes the way of a pushed report.

**When nothing is ever learned.** If neither a report nor a lookup settles a message, it
stays ``submitted`` (or ``buffered``): after the dispatch ``validity`` plus
``lookup_grace`` it is no longer looked up and is listed by
:func:`~smsgate.delivery.lookup.stale_messages` for operators. No ``failed`` is invented
for CleverTap: the vendor accepted the message and it may well have been delivered; a
made-up failure would miscount the campaign and could not be taken back. A report that
arrives later still is applied and relayed. ``unknown`` messages (the gateway cannot tell
whether the vendor got them; they have no vendor id to look up) are listed the same way.

The workers (:class:`~smsgate.delivery.workers.DeliveryWorkers`) run in ``smsgate serve``;
the settings are the ``[gateway.delivery]`` table (:mod:`~smsgate.delivery.settings`).
"""

from __future__ import annotations

from smsgate.delivery.matching import match_inbox, store_reports, sweep_inbox
from smsgate.delivery.outbox import enqueue_relay
from smsgate.delivery.settings import DeliverySettings
from smsgate.delivery.workers import DeliveryWorkers

__all__ = [
    "DeliverySettings",
    "DeliveryWorkers",
    "enqueue_relay",
    "match_inbox",
    "store_reports",
    "sweep_inbox",
]
