"""The installed ``smsgate`` console script, run as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SMSGATE = Path(sys.executable).parent / "smsgate"


def test_console_script_check_config_exits_2_on_a_bad_file(tmp_path):
    path = tmp_path / "smsgate.toml"
    path.write_text('[gateway]\npublic_url = "https://sms.example.com"\nport = 8000\n')
    done = subprocess.run(
        [str(SMSGATE), "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"{path}: invalid configuration\n")
    assert "  - gateway.port: unknown key" in done.stderr


def test_console_script_reports_its_version():
    done = subprocess.run(
        [str(SMSGATE), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert "0.1.0" in done.stdout
