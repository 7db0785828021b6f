"""Every token is compared in constant time, through one function.

The AST checks keep it so as the code grows: ``compare_digest`` is called in one place
(:func:`smsgate.host.auth.same_secret`), and no ``==`` or ``!=`` compares a value whose
name says it is a secret. The spy checks that each door (CleverTap's token, a callback
token, the admin token, the dashboard's login and CSRF token) really goes through it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread
from operations_helpers import ADMIN_TOKEN, admin_config, dashboard_client

import smsgate.dashboard.session
import smsgate.host.api
import smsgate.host.auth
import smsgate.host.callbacks
from smsgate.host.app import create_app
from smsgate.host.auth import same_secret

ROOT = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("token", "password", "secret", "csrf", "api_key", "apikey", "signature")


def sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def named(node: ast.expr) -> str:
    """The identifier an operand is read from: ``x``, ``a.b.x``, ``x[...]``, ``f(x)``."""
    while isinstance(node, ast.Subscript | ast.Call):
        node = node.value if isinstance(node, ast.Subscript) else node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def test_compare_digest_is_called_only_by_same_secret():
    callers = []
    for path in sources("core"):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and named(node.func) == "compare_digest":
                    callers.append(f"{path.relative_to(ROOT)}:{function.name}")

    assert callers == ["core/host/auth.py:same_secret"]


def test_no_equality_operator_compares_a_secret():
    found = []
    for path in sources("core", "plugins"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            # A secret against a literal is a presence check (== "" or is None), not a guess.
            if any(isinstance(operand, ast.Constant) for operand in operands):
                continue
            # UPPER_CASE names are constants of the code (SIGNATURE_VERSION), not secrets.
            names = [named(o).lower() for o in operands if not named(o).isupper()]
            if any(word in name for name in names for word in SECRET_WORDS):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")

    assert found == []


def test_same_secret_tells_equal_from_different_text_and_bytes():
    assert same_secret("tøken", "tøken")
    assert same_secret("tøken".encode(), "tøken")
    assert not same_secret("tøken", "token")
    assert not same_secret("", "token")
    # A lone surrogate (a URL path may decode to one) matches nothing and raises nothing.
    assert not same_secret("token\ud800", "token")


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[bytes | str]:
    """What each door hands to ``same_secret``, in order; the real comparison still runs."""
    seen: list[bytes | str] = []

    def spy(presented, expected):
        seen.append(presented)
        return same_secret(presented, expected)

    for module in (
        smsgate.host.auth,
        smsgate.host.api,
        smsgate.host.callbacks,
        smsgate.dashboard.session,
    ):
        monkeypatch.setattr(module, "same_secret", spy)
    return seen


def test_every_door_compares_its_token_through_same_secret(make_config, database_url, comparisons):
    config = admin_config(make_config, database_url)
    wrong = "wrong-token-9876543210"
    bearer = {"Authorization": f"Bearer {wrong}"}
    with ServerThread(create_app(config)) as server, httpx.Client(base_url=server.url) as http:
        doors = {
            "clevertap": http.post("/clevertap/pingbix-in", json={"to": "1"}, headers=bearer),
            "callback": http.get(f"/callbacks/pingbix-in/{wrong}"),
            "admin api": http.get("/api/stats", headers=bearer),
            "dashboard login": http.post("/dashboard/login", data={"token": wrong}),
        }
        signed_in = dashboard_client(server.url)
        try:
            doors["csrf"] = signed_in.post("/dashboard/logout", data={"csrf": wrong})
        finally:
            signed_in.close()

    assert {door: answer.status_code for door, answer in doors.items()} == {
        "clevertap": 401,
        "callback": 404,
        "admin api": 401,
        "dashboard login": 401,
        "csrf": 403,
    }
    # The right admin token of the signed-in client's login is among them, compared the same way.
    assert comparisons == [wrong.encode(), wrong, wrong.encode(), wrong, ADMIN_TOKEN, wrong]
    assert TOKEN not in comparisons and CALLBACK_TOKEN not in comparisons
