"""Make docs/dashboard-overview.png and docs/dashboard-message.png from a live gateway.

Runs, on loopback ports of this machine: the gateway (SQLite in a temporary folder), two
Pingbix sandboxes, a stand-in CleverTap that refuses the first batch it gets, and a third
nickname whose vendor is down (its circuit opens). Sends a few hundred messages through the
CleverTap endpoint, lets one vendor call time out (those messages become unknown), waits for
the delivery reports, and photographs the dashboard in headless Chromium.

    .venv/bin/python scripts/dashboard_screenshots.py
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

from smsgate.config import load_config
from smsgate.host.app import create_app
from smsgate.plugins import load_plugins
from smsgate.testing.fake_clevertap import create_app as fake_clevertap
from smsgate.types import SandboxSettings

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "docs-admin-token-0123"
TOKENS = {
    "pingbix-in": "in-token-0123456789",
    "pingbix-otp": "otp-token-0123456789",
    "pingbix-backup": "backup-token-0123456",
}
DLR = "dlr-token-0123456789"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: object, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server


def provider(nickname: str, vendor: str, clevertap: str, extra: str = "") -> str:
    return f"""
[providers.{nickname}]
plugin = "pingbix"
token = "{TOKENS[nickname]}"
callback_token = "{DLR}"
clevertap_callback_url = "{clevertap}/sms/generic?account=DEMO"
default_country = "IN"
{extra}
[providers.{nickname}.options]
base_url = "{vendor}"
userid = "demo"
password = "demo-password"
senderid = "ACMEIN"
"""


def send(base: str, nickname: str, records: list[dict[str, str]], **batch: str) -> None:
    answer = httpx.post(
        f"{base}/clevertap/{nickname}",
        json={"messages": records, **batch},
        headers={"Authorization": f"Bearer {TOKENS[nickname]}"},
    )
    answer.raise_for_status()


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="smsgate-docs-"))
    ports = {name: free_port() for name in ("gateway", "in", "otp", "down", "clevertap")}
    base = f"http://127.0.0.1:{ports['gateway']}"
    clevertap = f"http://127.0.0.1:{ports['clevertap']}"
    dlr = f"{base}/callbacks/{{}}/{DLR}"
    (folder / "smsgate.toml").write_text(
        f"""
[gateway]
database_url = "sqlite:///{folder / "smsgate.db"}"
public_url = "{base}"
admin_token = "{ADMIN}"

[gateway.dispatch]
poll_interval = 0.1
send_timeout = 2.0
lease = 5.0
breaker_threshold = 3
breaker_cooldown = 600
backoff_base = 0.2

[gateway.delivery]
relay_poll_interval = 0.2
"""
        + provider("pingbix-in", f"http://127.0.0.1:{ports['in']}", clevertap)
        + provider(
            "pingbix-otp", f"http://127.0.0.1:{ports['otp']}", clevertap, "rate_limit = 20\n"
        )
        + provider("pingbix-backup", f"http://127.0.0.1:{ports['down']}", clevertap)
    )
    plugins = load_plugins()
    sandbox = plugins.get("pingbix").sandbox_app
    servers = [
        serve(fake_clevertap(), ports["clevertap"]),
        serve(
            sandbox(
                SandboxSettings(
                    dlr_url=dlr.format("pingbix-in"),
                    delay=2.5,
                    seed=3,
                    outcomes={"delivered": 0.86, "failed": 0.1, "none": 0.04},
                )
            ),
            ports["in"],
        ),
        serve(
            sandbox(
                SandboxSettings(
                    dlr_url=dlr.format("pingbix-otp"),
                    delay=0.8,
                    seed=4,
                    outcomes={"delivered": 0.97, "failed": 0.03},
                )
            ),
            ports["otp"],
        ),
        serve(create_app(load_config(folder / "smsgate.toml", plugins)), ports["gateway"]),
    ]
    # CleverTap refuses the first batch of reports: those records go dead.
    httpx.post(f"{clevertap}/_fake/outage", json={"status": 400, "count": 1})
    for batch in range(3):
        records = [
            {
                "to": f"98{batch}{n:07d}",
                "body": f"Diwali sale: 20% off today only, code D{n:03d}",
                "message_id": f"91980{batch}{n:05d}.1200000000.1764{batch}{n:04d}.20261125.0."
                "wzrk_default.-1.",
            }
            for n in range(90)
        ]
        send(base, "pingbix-in", records, campaign_id="diwali-sale-2026")
        time.sleep(0.4)
    time.sleep(3)  # the campaign is with the vendor before the next fault is set up
    # One vendor call that never answers in time: its messages' fate is unknown.
    httpx.post(f"http://127.0.0.1:{ports['in']}/sandbox/faults", json={"delay": 8, "count": 1})
    send(
        base,
        "pingbix-in",
        [
            {
                "to": f"97400{n:05d}",
                "body": "Your order has shipped",
                "message_id": f"shipping.{n}.",
            }
            for n in range(4)
        ],
        campaign_id="order-updates",
    )
    for n in range(60):
        send(
            base,
            "pingbix-otp",
            [
                {
                    "to": f"99{n:08d}",
                    "template_id": "1107160000000000001",
                    "body": f"Your one-time password is {4000 + n}. It expires in 10 minutes.",
                    "message_id": f"otp.{n}.1764060000.",
                }
            ],
        )
    send(
        base,
        "pingbix-backup",
        [
            {"to": f"96{n:08d}", "body": "Backup route test", "message_id": f"backup.{n}."}
            for n in range(14)
        ],
    )
    time.sleep(14)

    admin = {"Authorization": f"Bearer {ADMIN}"}
    dead = httpx.get(f"{base}/api/relays", headers=admin).json()["items"]
    target = dead[0]["message_pk"] if dead else 1
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(f"{base}/dashboard/")
        page.fill("input[name=token]", ADMIN)
        page.click("button[type=submit]")
        page.wait_for_selector("h2:has-text('Providers')")
        page.screenshot(path=str(docs / "dashboard-overview.png"), full_page=True)
        page.goto(f"{base}/dashboard/messages/{target}")
        page.locator(".timeline .k-delivered summary, .timeline .k-failed summary").last.click()
        page.screenshot(path=str(docs / "dashboard-message.png"), full_page=True)
        browser.close()
    for server in servers:
        server.should_exit = True
    print(f"wrote {docs / 'dashboard-overview.png'} and {docs / 'dashboard-message.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
