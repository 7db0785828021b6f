"""Pingbix, the reference vendor plugin.

Registered as ``pingbix`` in the ``smsgate`` entry-point group. Every Pingbix field name
lives in :mod:`smsgate_pingbix.api`, so that a correction to Pingbix's API is one line.
"""

from __future__ import annotations

from pydantic import BaseModel
from smsgate import hookimpl
from smsgate_pingbix.options import PingbixOptions

__all__ = ["PingbixOptions", "options_model"]


@hookimpl
def options_model() -> type[BaseModel]:
    """Pingbix's options: account, sender and DLT entity."""
    return PingbixOptions
