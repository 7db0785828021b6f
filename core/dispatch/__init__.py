"""The durable dispatcher: from an accepted message to the vendor, once.

The ``messages`` table is the queue (a transactional outbox): CleverTap's request commits
the rows, and the rows are the jobs; there is no second store to keep in step. Workers run
inside ``smsgate serve`` (:class:`Dispatcher`, started by the application's lifespan), any
number of processes may share one PostgreSQL database, and SQLite serves one process. An
accept wakes the workers of its own process at once; other processes find the rows at their
next poll (``poll_interval``, half a second by default), so the 2-second promise holds
however the load balancer spreads CleverTap's requests.

The life of a message::

    accepted ──claim──▶ sending ──vendor answers──▶ submitted (vendor id kept)
        ▲                  │                     ├─▶ accepted again, later (retry, backoff)
        │                  │                     ├─▶ failed (CleverTap code 900-920)
        │                  │                     ├─▶ unknown (it may have reached the vendor)
        └──── rerouted ────┘ (vendor unusable)   └─▶ accepted on the fallback nickname
                           └──lease expired──▶ unknown

Crash safety, and why an expired lease means ``unknown``. A worker commits its claim (status
``sending``, a lease, ``attempts + 1``) *before* it calls the vendor and commits the answer
after. If the process dies between those commits, the database cannot tell whether the
request left: the kill may have come before the first byte or after the vendor accepted.
Putting the message back in the queue would risk a second SMS (an OTP twice, a charge
twice); dropping it would lose it silently. So when a lease expires with the message still
``sending``, it becomes ``unknown`` with the reason, visible to operators and to a later
status lookup, and is never resent by the dispatcher. A worker that merely stalled and
answers after its lease was reclaimed cannot overwrite that: results are stored only
``WHERE lease_owner = :me AND status = 'sending'``; its answer is kept as an event.
The ambiguous window is thus exactly one vendor call per claimed message, and every message
ends submitted, failed, or unknown with a reason: none is sent twice by two workers, none is
lost. A database that is down when the answer comes (a restart, a failover) does not lose it:
the write is retried while the lease holds (:mod:`smsgate.storage.retry`).

Modules: :mod:`~smsgate.dispatch.settings` (the ``[gateway.dispatch]`` keys),
:mod:`~smsgate.dispatch.backoff` (full-jitter retry delays and the injectable clock),
:mod:`~smsgate.dispatch.throttle` (token bucket and circuit breaker, pure),
:mod:`~smsgate.dispatch.outcomes` (a plugin's result to a row's next state, pure),
:mod:`~smsgate.dispatch.queue` (the transactions) and :mod:`~smsgate.dispatch.dispatcher`
(the asyncio workers).
"""

from __future__ import annotations

from smsgate.dispatch.dispatcher import BatchReport, Dispatcher, DispatchObserver, new_http_client
from smsgate.dispatch.settings import DispatchSettings

__all__ = ["BatchReport", "DispatchObserver", "DispatchSettings", "Dispatcher", "new_http_client"]
