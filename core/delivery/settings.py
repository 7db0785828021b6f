"""The ``[gateway.delivery]`` table: delivery reports, the CleverTap relay and status lookups.

Durations are in seconds. The defaults keep the contract's promises (a report reaches
CleverTap within 5 seconds while CleverTap answers; 5xx is retried after 10 minutes with
exponential backoff, as CleverTap advises; unmatched reports stay visible 72 hours).

==========================  ========  =============================================================
key                         default   meaning
==========================  ========  =============================================================
``enabled``                 true      run relay workers, the inbox sweep and status lookups inside
                                      ``smsgate serve``
``relay_concurrency``       2         relay tasks per process; each POSTs one batch at a time
``relay_batch_size``        100       most records in one POST to CleverTap (at most 100)
``relay_poll_interval``     1         idle relay tasks look for due records this often; a report
                                      stored in the same process wakes them at once
``relay_timeout``           10        the longest one POST to CleverTap may take
``relay_lease``             60        a claimed record belongs to its worker this long; after it
                                      another process may send it (must exceed ``relay_timeout``)
``relay_first_delay``       600       after a 5xx, timeout or connection error, the first retry
                                      waits this long; each further one twice as long
``relay_backoff_cap``       21600     no retry waits longer than this (6 h)
``relay_jitter``            0.1       each retry waits up to this share longer, at random, so that
                                      records that failed together do not come back together
``relay_give_up_after``     259200    a record still not accepted this long (3 days) after it was
                                      queued is marked dead, with the last error
``inbox_retention``         259200    an unmatched report is kept (and retried) this long (72 h)
``sweep_interval``          2         how often unmatched reports are tried again and old ones
                                      purged
``done_retention``          604800    relayed records are kept this long (7 days) for operators;
                                      the purge runs every 10 minutes
``lookup_after``            900       a message submitted this long ago without a final report is
                                      looked up at the vendor (if its plugin can); further lookups
                                      follow at doubling intervals
``lookup_grace``            86400     lookups stop once a message is older than the dispatch
                                      ``validity`` plus this; it then stays ``submitted`` and is
                                      listed as stale (see :mod:`smsgate.delivery`)
``lookup_batch_size``       100       messages handed to one ``lookup_status`` call
``lookup_poll_interval``    30        how often each process looks for messages to look up
==========================  ========  =============================================================
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DeliverySettings"]

_HOUR = 3600.0
_DAY = 24 * _HOUR


class DeliverySettings(BaseModel):
    """The ``[gateway.delivery]`` table; see the module docstring for every key."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    relay_concurrency: int = Field(default=2, ge=1, le=64)
    relay_batch_size: int = Field(default=100, ge=1, le=100)
    relay_poll_interval: float = Field(default=1.0, gt=0, le=60)
    relay_timeout: float = Field(default=10.0, gt=0)
    relay_lease: float = Field(default=60.0, gt=0)
    relay_first_delay: float = Field(default=600.0, gt=0)
    relay_backoff_cap: float = Field(default=6 * _HOUR, gt=0)
    relay_jitter: float = Field(default=0.1, ge=0, le=1)
    relay_give_up_after: float = Field(default=3 * _DAY, gt=0)
    inbox_retention: float = Field(default=3 * _DAY, gt=0)
    sweep_interval: float = Field(default=2.0, gt=0)
    done_retention: float = Field(default=7 * _DAY, gt=0)
    lookup_after: float = Field(default=900.0, gt=0)
    lookup_grace: float = Field(default=_DAY, ge=0)
    lookup_batch_size: int = Field(default=100, ge=1, le=1000)
    lookup_poll_interval: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _lease_outlives_post(self) -> DeliverySettings:
        # A POST still running when its lease ends may be repeated by another process:
        # CleverTap would get those records twice.
        if self.relay_lease < self.relay_timeout + 1:
            raise ValueError(
                f"relay_lease ({self.relay_lease:g} s) must be at least relay_timeout + 1 s "
                f"({self.relay_timeout + 1:g} s); raise relay_lease or lower relay_timeout"
            )
        return self
