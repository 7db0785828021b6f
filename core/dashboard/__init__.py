"""The operators' dashboard at ``/dashboard/``: server-rendered pages, no front-end build.

- :mod:`~smsgate.dashboard.session`: login with the admin token into a signed session
  cookie (HttpOnly, SameSite=Strict, Secure behind https), CSRF tokens for every action.
- :mod:`~smsgate.dashboard.render`: the Jinja2 templates (autoescaped: a message body with
  HTML in it shows as text), their filters, and the security headers of every page.
- :mod:`~smsgate.dashboard.pages`: overview, message search, one message, dead relay
  records, unknown messages.
- :mod:`~smsgate.dashboard.actions`: the POSTs behind the buttons (retry, resend, cancel,
  give up), each checked against the session's CSRF token.

The figures, searches and actions are those of :mod:`smsgate.admin`, shared with the admin
API and the CLI. Static files (one stylesheet, one small script for live refresh) are
package data; nothing is fetched from the network.
"""

from __future__ import annotations

from smsgate.dashboard.routes import mount

__all__ = ["mount"]
