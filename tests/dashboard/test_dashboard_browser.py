"""The dashboard in a real browser: headless Chromium driven by Playwright.

Sign in, send a batch through the CleverTap endpoint and watch it appear (the page refreshes
itself), open a message and read its timeline, retry a relay record CleverTap refused.
Everything is real: the gateway, the Pingbix sandbox pushing delivery reports, a stand-in
CleverTap that refuses the first batch, and the system's Chromium (never a downloaded one).
Screenshots go to ``test-output/dashboard/``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import CALLBACK_TOKEN, TOKEN, free_port
from operations_helpers import ADMIN_TOKEN

from smsgate.config import load_config
from smsgate.host.app import create_app
from smsgate.plugins import load_plugins
from smsgate.testing.fake_clevertap import create_app as fake_clevertap
from smsgate.types import SandboxSettings

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"
WAIT_MS = 20_000


class Served:
    """An ASGI app under uvicorn on a port chosen beforehand, in a thread."""

    def __init__(self, app: object, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (Debian's chromium package)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def stack(tmp_path, database_url):
    """Gateway, Pingbix sandbox and stand-in CleverTap, wired to each other."""
    gateway_port, vendor_port, clevertap_port = free_port(), free_port(), free_port()
    config_path = tmp_path / "smsgate.toml"
    config_path.write_text(
        f"""
[gateway]
database_url = "{database_url}"
public_url = "http://127.0.0.1:{gateway_port}"
admin_token = "{ADMIN_TOKEN}"

[gateway.dispatch]
poll_interval = 0.1

[gateway.delivery]
relay_poll_interval = 0.1
relay_concurrency = 1

[providers.pingbix-in]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:{clevertap_port}/sms/generic?account=TEST"
default_country = "IN"

[providers.pingbix-in.options]
base_url = "http://127.0.0.1:{vendor_port}"
userid = "demo"
password = "demo-password"
senderid = "ACMEIN"
"""
    )
    plugins = load_plugins()
    vendor = plugins.get("pingbix").sandbox_app(
        SandboxSettings(
            dlr_url=f"http://127.0.0.1:{gateway_port}/callbacks/pingbix-in/{CALLBACK_TOKEN}",
            delay=0.2,
            seed=7,
        )
    )
    gateway = create_app(load_config(config_path, plugins))
    with (
        Served(fake_clevertap(), clevertap_port) as clevertap,
        Served(vendor, vendor_port),
        Served(gateway, gateway_port) as served,
    ):
        yield served.url, clevertap.url


def _keep_errors(message, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{base}/dashboard/")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def test_a_wrong_token_shows_no_page_and_no_data(browser, stack, request):
    base, _ = stack
    batch = {"messages": [{"to": "9876543210", "body": "secret text", "message_id": "wt1."}]}
    httpx.post(
        f"{base}/clevertap/pingbix-in", json=batch, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(f"{base}/dashboard/messages")
        assert page.url.startswith(f"{base}/dashboard/login")
        sign_in(page, base, TOKEN)  # CleverTap's token is not the admin token

        assert page.locator(".flash-error").inner_text() == "That is not the admin token."
        content = page.content()
        assert (
            "wt1." not in content and "secret text" not in content and "pingbix-in" not in content
        )
        assert page.locator("nav a").count() == 0
        page.goto(f"{base}/dashboard/messages/1")
        assert page.url.startswith(f"{base}/dashboard/login")
        shot(page, f"wrong-token-{request.node.callspec.id}")
    finally:
        page.close()


def test_an_operator_follows_a_batch_and_retries_a_refused_relay(browser, stack, request):
    from playwright.sync_api import expect

    base, clevertap = stack
    label = request.node.callspec.id
    # CleverTap refuses the first batch of reports it gets: those records go dead.
    httpx.post(f"{clevertap}/_fake/outage", json={"status": 400, "count": 1})
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: _keep_errors(message, errors))
    try:
        sign_in(page, base)
        expect(page.locator("h2", has_text="Providers")).to_be_visible()
        page.goto(f"{base}/dashboard/messages")
        expect(page.locator("td.empty")).to_have_text("No message matches.")

        batch = {
            "campaign_id": "browser-batch",
            "messages": [
                {"to": f"98765432{n:02d}", "body": f"Order {n} shipped", "message_id": f"bt{n}."}
                for n in range(1, 4)
            ],
        }
        sent = httpx.post(
            f"{base}/clevertap/pingbix-in", json=batch, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert sent.json()["accepted"] == 3

        # No reload: the page refreshes its results by itself.
        rows = page.locator("#results tbody tr[data-id]")
        expect(rows).to_have_count(3, timeout=WAIT_MS)
        expect(page.locator("#results .badge.s-delivered")).to_have_count(3, timeout=WAIT_MS)
        shot(page, f"messages-{label}")

        page.locator("#results a", has_text="bt1.").click()
        expect(page.locator("h1")).to_contain_text("Message")
        timeline = page.locator(".timeline")
        for kind in ("accepted", "sending", "submitted", "delivered"):
            expect(timeline.locator(f".k-{kind}")).to_have_count(1)
        timeline.locator(".k-delivered summary").click()
        expect(timeline.locator(".k-delivered pre.json")).to_contain_text("transactionid")
        shot(page, f"message-{label}")

        page.click("nav a:has-text('Dead relays')")
        dead = page.locator("#relays tbody tr[data-relay]")
        expect(dead.first).to_be_visible(timeout=WAIT_MS)
        expect(dead.first).to_contain_text("CleverTap refused the batch (HTTP 400)")
        shot(page, f"dead-relays-{label}")
        meta = (
            dead.first.locator("td.mono a").get_attribute("title")
            or dead.first.locator("td.mono a").inner_text()
        )
        dead.first.locator("button", has_text="Retry").click()

        expect(page.locator(".flash-ok")).to_contain_text("is queued for CleverTap again")
        deadline = time.monotonic() + WAIT_MS / 1000
        received: list[str] = []
        while time.monotonic() < deadline and meta not in received:
            answer = httpx.get(f"{clevertap}/_fake/received").json()
            received = [record["meta"] for record in answer["records"]]
            time.sleep(0.1)
        assert meta in received
        shot(page, f"relay-retried-{label}")
        assert errors == []
    finally:
        page.close()

    metrics = httpx.get(f"{base}/metrics").text
    submitted = r'smsgate_dispatch_results_total\{nickname="pingbix-in",outcome="submitted"\} 3'
    assert re.search(submitted, metrics)
    assert re.search(r'smsgate_vendor_call_seconds_count\{nickname="pingbix-in"\} [1-9]', metrics)
