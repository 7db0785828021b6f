"""`make run`: the gateway with a Pingbix sandbox and a stand-in CleverTap, on this machine.

Serves smsgate.example.toml on http://127.0.0.1:8000 (SQLite), starts the Pingbix sandbox on
port 9090 pushing delivery reports back to the gateway, and a fake CleverTap on port 9091
that prints every callback it receives. Prints a curl line that sends a CleverTap-style batch;
within a few seconds the fake CleverTap prints the `delivered` records. Ctrl-C stops all three.
"""

from __future__ import annotations

import json
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "smsgate.example.toml"
SMSGATE = str(Path(sys.executable).with_name("smsgate"))
HOST, PORT = "127.0.0.1", 8000


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def curl_line(nickname: str, token: str) -> str:
    batch = {
        "template_id": "1107160000000000001",
        "campaign_id": "demo-campaign",
        "messages": [
            {"to": "+91 98765 43210", "body": "Your OTP is 4321", "message_id": "demo.1.17000."},
            {
                "to": "09876543211",
                "body": "नमस्ते! Order shipped",
                "message_id": "demo.2.17000.",
            },
            {"to": "919876543212", "template_variables": "8765|10", "message_id": "demo.3.17000."},
        ],
    }
    return (
        f"curl -sS -X POST http://{HOST}:{PORT}/clevertap/{nickname} "
        f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(batch, ensure_ascii=False))}"
    )


def main() -> int:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    nickname, provider = next(iter(config["providers"].items()))
    for port in (PORT, 9090, 9091):
        if not port_is_free(port):
            print(f"port {port} is in use; stop what listens there and run `make run` again")
            return 1
    dlr_url = f"http://{HOST}:{PORT}/callbacks/{nickname}/{provider['callback_token']}"
    helpers = [
        subprocess.Popen([SMSGATE, "fake-clevertap", "--port", "9091"]),
        subprocess.Popen(
            [SMSGATE, "sandbox", "pingbix", "--port", "9090", "--dlr-url", dlr_url, "--delay", "2"]
        ),
    ]
    gateway = subprocess.Popen(
        [SMSGATE, "serve", "--config", str(CONFIG), "--host", HOST, "--port", str(PORT)]
    )
    try:
        deadline = time.monotonic() + 20
        while port_is_free(PORT) and gateway.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if gateway.poll() is not None:
            return gateway.returncode or 1
        print(f"\nsmsgate is serving on http://{HOST}:{PORT} (config: {CONFIG.name})")
        print(f"Send a CleverTap-style batch to nickname {nickname!r}:\n")
        print(curl_line(nickname, provider["token"]) + "\n")
        print("The fake CleverTap on :9091 prints the delivery callbacks; Ctrl-C stops all.\n")
        return gateway.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in [gateway, *helpers]:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in [gateway, *helpers]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
