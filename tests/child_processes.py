"""Our own commands as child processes (``smsgate serve``, ``smsgate sandbox ...``) for tests
that need a real process: one that can be killed with SIGKILL and started again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

SMSGATE = str(Path(sys.executable).with_name("smsgate"))


@dataclass
class Process:
    """A child process with its log file and the URL it serves."""

    popen: subprocess.Popen[bytes]
    url: str
    log: Path
    ready_path: str

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as in a crash or an OOM kill."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it will not go."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        """What the process wrote so far."""
        return self.log.read_text(errors="replace")


def spawn(args: Sequence[str], log: Path, ready_path: str, port: int) -> Process:
    """Start ``smsgate ARGS``; :func:`wait_ready` waits for it to answer ``ready_path``."""
    handle = log.open("ab")
    popen = subprocess.Popen(
        [SMSGATE, *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    handle.close()
    return Process(popen, f"http://127.0.0.1:{port}", log, ready_path)


def wait_ready(process: Process, seconds: float = 30) -> Process:
    """Wait until ``process`` answers 200 on its ready path."""
    deadline = time.monotonic() + seconds
    while True:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.log.stem} exited early:\n{process.log_text()}")
        try:
            if httpx.get(process.url + process.ready_path, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{process.log.stem} did not start:\n{process.log_text()}")
        time.sleep(0.05)
