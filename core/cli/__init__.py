"""The ``smsgate`` command line."""

from smsgate.cli.main import main

__all__ = ["main"]
