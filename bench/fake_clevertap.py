"""A fast stand-in for CleverTap's SMS callback URL, for the relay benchmark.

``python -m bench.fake_clevertap --port P`` takes CleverTap's batches (a JSON array of
``{"event", "data": [record, …]}`` groups) on any path, counts the records and the
distinct ``(event, meta)`` pairs among them, and answers as CleverTap does when it takes
everything: ``{"status": "success", "processed": N, "unprocessed": []}``. A body that is
not such an array is a 400. It runs on :mod:`bench.rawserver`, so that it costs far less
than the senders measured against it. (:mod:`smsgate.testing.fake_clevertap` checks every
record as CleverTap would; the tests use it.)

``GET /_count`` answers ``{"requests": R, "records": N, "distinct": D}``.
"""

from __future__ import annotations

import argparse
import json

from bench import rawserver


class FakeCleverTap:
    """The stand-in's state: what it has taken so far."""

    def __init__(self) -> None:
        self.requests = 0
        self.records = 0
        self.seen: set[tuple[str, str]] = set()

    def handle(self, request_line: bytes, body: bytes) -> tuple[int, bytes]:
        """CleverTap's answer to one batch, or the counts."""
        if rawserver.path_of(request_line) == b"/_count":
            counts = {
                "requests": self.requests,
                "records": self.records,
                "distinct": len(self.seen),
            }
            return 200, json.dumps(counts).encode()
        self.requests += 1
        try:
            groups = json.loads(body)
            taken = [
                (group["event"], record["meta"]) for group in groups for record in group["data"]
            ]
        except (ValueError, TypeError, KeyError):
            return 400, b'{"status":"fail","error":"not an array of event groups"}'
        self.records += len(taken)
        self.seen.update(taken)
        answer = {"status": "success", "processed": len(taken), "unprocessed": []}
        return 200, json.dumps(answer).encode()


def main() -> None:
    """The command line: ``--host`` and ``--port``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    rawserver.serve(FakeCleverTap().handle, args.host, args.port)


if __name__ == "__main__":
    main()
