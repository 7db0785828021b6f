"""JSON answers that remember what they say.

The metrics wrappers (:mod:`smsgate.host.metrics`) count what the send and report
endpoints answered: accepted, rejected, matched, waiting. An :class:`Answer` keeps the
object it was rendered from, so they read it instead of decoding the JSON again on every
request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

__all__ = ["Answer"]


class Answer(JSONResponse):
    """A :class:`~starlette.responses.JSONResponse` whose ``content`` stays readable."""

    def __init__(
        self,
        content: dict[str, Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.content = content
        super().__init__(content, status_code=status_code, headers=headers, background=background)
