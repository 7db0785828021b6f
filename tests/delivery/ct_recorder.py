"""A fake CleverTap callback URL: records what it receives, answers what it is told to.

``answers`` is a queue of ``(status, body)`` pairs used for the next POSTs in order; when it
is empty every POST gets ``200 {"status": "success"}``. While ``down`` is set, every POST is
answered 503 and counted in ``refused``, not in ``posts``. Only accepted POSTs (2xx) count
as received: CleverTap keeps nothing from a request it fails.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class CleverTapRecorder:
    """The fake's state, shared with the test thread under a lock."""

    answers: list[tuple[int, Any]] = field(default_factory=list)
    posts: list[list[dict[str, Any]]] = field(default_factory=list)
    refused: int = 0
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """Every ``(event, record)`` accepted, in arrival order."""
        with self.lock:
            return [
                (group["event"], record)
                for post in self.posts
                for group in post
                for record in group["data"]
            ]

    def app(self) -> Starlette:
        """The fake as an ASGI application; CleverTap's path is ``/sms/generic``."""

        async def callback(request: Request) -> Response:
            body = json.loads(await request.body())
            with self.lock:
                if self.down:
                    self.refused += 1
                    return JSONResponse({"status": "error"}, status_code=503)
                status, answer = self.answers.pop(0) if self.answers else (200, None)
                if 200 <= status < 300:
                    self.posts.append(body)
            if answer is None:
                answer = {"status": "success", "processed": sum(len(g["data"]) for g in body)}
            return JSONResponse(answer, status_code=status)

        return Starlette(routes=[Route("/sms/generic", callback, methods=["POST"])])
