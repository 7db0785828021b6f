"""``python -m bench``: run the benchmark parts, write their results and print a table.

Each part is a module of this package with ``PART`` (its name) and ``run(context)``; add a
new one to :data:`PARTS`. Exit status: 0 when every target is met, 1 when one is missed,
2 when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import dispatch, ingest, latency, memory, relay, reports
from bench.harness import (
    DATABASES,
    SIZES,
    BenchError,
    Context,
    Result,
    Size,
    find_py_spy,
    format_table,
    now_utc,
    write_results,
)

#: Every part, in the order they run; each takes a context and returns its measured lines.
PARTS: dict[str, Callable[[Context], list[Result]]] = {
    ingest.PART: ingest.run,
    dispatch.PART: dispatch.run,
    reports.PART: reports.run,
    relay.PART: relay.run,
    latency.PART: latency.run,
    memory.PART: memory.run,
}


#: What each part does at a size, for the progress lines.
WORKLOADS: dict[str, Callable[[Size], str]] = {
    ingest.PART: lambda size: (
        f"{size.batches} batches of 1000 per line in {size.rounds} rounds, "
        f"{size.prefill:,} stored for the full-table line"
    ),
    dispatch.PART: lambda size: (
        f"{size.dispatch_messages:,} messages per line in {size.rounds} rounds"
    ),
    reports.PART: lambda size: f"{size.reports:,} reports per line in {size.rounds} rounds",
    relay.PART: lambda size: f"{size.relay_records:,} records per line in {size.rounds} rounds",
    latency.PART: lambda size: (
        f"{size.latency_peak} batches of 1000 for the peak, {size.latency_batches} at half of it"
    ),
    memory.PART: lambda size: (
        f"{size.memory_messages:,} messages in flight, held {size.memory_hold:.0f} s"
    ),
}


def _names(known: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
            )
        return names

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure smsgate against ceilings measured in the same run.",
    )
    parser.add_argument(
        "--parts",
        type=_names(list(PARTS), "part"),
        default=tuple(PARTS),
        help=f"comma-separated parts to run (default: all: {','.join(PARTS)})",
    )
    parser.add_argument(
        "--size",
        choices=list(SIZES),
        default="quick",
        help="quick (a few minutes) or long (the figures for the README); default: quick",
    )
    parser.add_argument(
        "--databases",
        type=_names(DATABASES, "database"),
        default=DATABASES,
        help="comma-separated database kinds (default: sqlite,postgresql)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record where the gateway spends its time with py-spy, in an untimed pass",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("bench/results"),
        help="folder for the results JSON (default: bench/results/)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts; the exit status says whether every target was met."""
    args = parse_args(argv)
    size = SIZES[args.size]
    everything: list[Result] = []
    try:
        py_spy = find_py_spy() if args.profile else None
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="smsgate-bench-") as workdir:
        context = Context(
            size=size,
            databases=args.databases,
            workdir=Path(workdir),
            output=args.output,
            py_spy=py_spy,
        )
        for part in args.parts:
            print(f"{part}: size {size.name}: {WORKLOADS[part](size)}", flush=True)
            started = now_utc()
            try:
                results = PARTS[part](context)
            except BenchError as exc:
                print(f"{part}: could not run: {exc}", file=sys.stderr)
                return 2
            path = write_results(args.output, part, context, results, started)
            print(f"{part}: results written to {path}", flush=True)
            everything += results
    print()
    print(f"size: {size.name}")
    print(format_table(everything))
    return 1 if any(result.passed is False for result in everything) else 0


if __name__ == "__main__":
    sys.exit(main())
