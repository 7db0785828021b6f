"""A fast stand-in for Pingbix's ``/SMSApi/send``, for the dispatch benchmark.

``python -m bench.fake_vendor --port P`` answers every request with Pingbix's success JSON
and a fresh ``transactionId``, on :mod:`bench.rawserver`, and counts requests. It checks
nothing else. (The Pingbix sandbox, ``smsgate sandbox pingbix``, validates like the real
API but manages about 150 requests a second: it would be the bottleneck of both lines.)

``GET /_count`` answers ``{"requests": N}``: requests to any other path since start.
``--delay SECONDS`` makes it a slow vendor: every answer comes that long after its request,
so that messages pile up behind the dispatcher (the memory part).
"""

from __future__ import annotations

import argparse
import json

from bench import rawserver

_BODY = (
    '{"status":"success","statusCode":"200","reason":"Message Submitted Successfully",'
    '"transactionId":"bench-%d","msgId":"%d"}'
)


class FakeVendor:
    """The stand-in's state: requests answered so far."""

    def __init__(self) -> None:
        self.requests = 0

    def handle(self, request_line: bytes, body: bytes) -> tuple[int, bytes]:
        """Pingbix's success answer, or the count."""
        if rawserver.path_of(request_line) == b"/_count":
            return 200, json.dumps({"requests": self.requests}).encode()
        self.requests += 1
        return 200, (_BODY % (self.requests, self.requests)).encode()


def main() -> None:
    """The command line: ``--host``, ``--port`` and ``--delay``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    rawserver.serve(FakeVendor().handle, args.host, args.port, args.delay)


if __name__ == "__main__":
    main()
