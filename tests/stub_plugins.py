"""Plugin pieces for tests that put one hook on trial and need the others only to exist."""

from __future__ import annotations

from smsgate import BuiltPayload, hookimpl


class SendsNothing:
    """``build_payload`` and ``send_batch`` that send nothing: a nickname needs both."""

    @hookimpl
    def build_payload(self, messages, options):
        return BuiltPayload()

    @hookimpl
    async def send_batch(self, requests, client, options, progress):
        return []
