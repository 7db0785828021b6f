"""The ``[gateway.dispatch]`` table: how the dispatch workers claim, send, retry and back off.

Every key has a default that keeps the contract's promise (an accepted message is on its way
within 2 seconds) on a single process; change them only with a reason. Durations are in
seconds.

==========================  ======  ===============================================================
key                         default meaning
==========================  ======  ===============================================================
``enabled``                 true    run dispatch workers inside ``smsgate serve``
``concurrency``             4       worker tasks per process; each sends one batch at a time
``batch_size``              100     most messages one worker claims (and hands to a plugin) at once
``poll_interval``           0.5     idle workers look for due messages this often; an accept in the
                                    same process wakes them at once
``lease``                   210     a claimed message belongs to its worker this long; after that a
                                    message still ``sending`` is reclaimed as ``unknown``
``send_timeout``            180     the longest a plugin's ``send_batch`` may take; after it the
                                    batch is ``unknown`` but for the results the plugin already
                                    reported (must be at least 1 s below ``lease``). A batch of
                                    100 at 10 requests at once takes ten request times: 180 s
                                    leaves a slow vendor 18 s a request
``http_timeout``            10      default timeout of the shared HTTP client, per request
``max_connections``         100     connections the dispatch workers keep open, all vendors
                                    together; each worker has its share in a pool of its own
``max_attempts``            none    vendor calls per message before a ``retry`` becomes a failure
                                    (code 904); none: a message is retried until its
                                    ``validity`` runs out (916), so that a vendor outage of
                                    minutes or hours costs no message. Waiting for the rate
                                    limit or an open circuit is not an attempt
``backoff_base``            1       full-jitter backoff: a retry waits random(0, min(cap,
``backoff_cap``             300     base * 2**n)) seconds, n = attempts made so far minus one
``max_retry_after``         3600    a vendor's ``Retry-After`` is honoured up to this
``validity``                36000   a message older than this (10 h) fails with 916 "expired"
                                    instead of being sent
``rate_burst``              1       a rate-limited nickname may send ``rate_limit * rate_burst``
                                    segments at once after a quiet spell (at least 1 message)
``breaker_threshold``       5       consecutive failed batches (all retry/unknown, or the plugin
                                    raised) that open a nickname's circuit; one result marked
                                    ``vendor_unusable`` opens it at once
``breaker_cooldown``        30      an open circuit lets one probe through after this long
``probe_size``              1       messages sent by a half-open circuit's probe
``fallback_after``          60      a nickname with ``fallback`` whose circuit has been open this
                                    long moves its waiting messages to the fallback nickname
                                    (at once when the vendor said it is unusable), unless the
                                    fallback's own circuit is open: then they wait until it closes
``reclaim_interval``        5       how often each process looks for expired leases
``shutdown_grace``          30      on shutdown, how long in-flight batches may take to finish
==========================  ======  ===============================================================
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DispatchSettings"]


class DispatchSettings(BaseModel):
    """The ``[gateway.dispatch]`` table; see the module docstring for every key."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    concurrency: int = Field(default=4, ge=1, le=256)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    lease: float = Field(default=210.0, gt=0)
    send_timeout: float = Field(default=180.0, gt=0)
    http_timeout: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_base: float = Field(default=1.0, gt=0)
    backoff_cap: float = Field(default=300.0, gt=0)
    max_retry_after: float = Field(default=3600.0, ge=0)
    validity: float = Field(default=10 * 3600.0, gt=0)
    rate_burst: float = Field(default=1.0, gt=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown: float = Field(default=30.0, ge=0)
    probe_size: int = Field(default=1, ge=1)
    fallback_after: float = Field(default=60.0, ge=0)
    reclaim_interval: float = Field(default=5.0, gt=0)
    shutdown_grace: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _lease_outlives_send(self) -> DispatchSettings:
        # A result recorded after its lease expired is discarded, so the lease must cover the
        # whole vendor call plus the commit of its result.
        if self.lease < self.send_timeout + 1:
            raise ValueError(
                f"lease ({self.lease:g} s) must be at least send_timeout ({self.send_timeout:g} s,"
                " 180 s unless set) + 1 second; raise lease or lower send_timeout"
            )
        return self
