"""Helpers for the operators' tests (dashboard, admin API, CLI): the admin token and config,
a signed-in dashboard client, the CSRF token of a page.

Messages in each state come from :mod:`message_builders`.
"""

from __future__ import annotations

from typing import Any

ADMIN_TOKEN = "admin-token-0123456789"


ADMIN_CONFIG = """
[gateway.dispatch]
enabled = false

[gateway.delivery]
enabled = false
"""


def dashboard_client(base_url: str, token: str = ADMIN_TOKEN) -> Any:
    """An httpx client signed in to the dashboard (the session cookie in its jar)."""
    import httpx

    client = httpx.Client(base_url=base_url, follow_redirects=False)
    answer = client.post("/dashboard/login", data={"token": token, "next": "/dashboard/"})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(page: str) -> str:
    """The CSRF token in a dashboard page's forms."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def admin_config(make_config: Any, database_url: str, **gateway: str) -> Any:
    """The test config with the admin token, no workers, and a plain-HTTP public URL.

    Behind ``https://`` the session cookie is Secure, and a client talking plain HTTP to
    the loopback test server would rightly never send it back.
    """
    config = make_config(database_url, extra=ADMIN_CONFIG, admin_token=ADMIN_TOKEN, **gateway)
    config.settings.gateway.public_url = "http://127.0.0.1:8000"
    return config
