"""What operators see and do, shared by the dashboard, the admin API and the command line.

- :mod:`~smsgate.admin.durations`: ``90d``, ``12h`` and moments such as ``1h`` ago.
- :mod:`~smsgate.admin.views`: the shapes rows are shown in (pydantic models; the admin
  API's OpenAPI schemas are generated from them).
- :mod:`~smsgate.admin.queries`: message search with keyset pagination, one message with
  its events and relay records, relay records by state.
- :mod:`~smsgate.admin.stats`: the overview's figures per nickname.
- :mod:`~smsgate.admin.actions`: retry, cancel and give up, each one short transaction that
  leaves an event on the message's timeline.
- :mod:`~smsgate.admin.purge`: deleting old messages in batches, by hand or on a schedule.

Nothing here speaks HTTP; every function takes the engine and "now" explicitly.
"""
