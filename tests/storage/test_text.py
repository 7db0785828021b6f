"""Which text a database cannot store as it is, and why."""

from __future__ import annotations

import pytest

from smsgate.storage.text import unstorable


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("tx\x001", "contains a NUL character"),
        ("a\ud800b", "contains a lone surrogate (\\ud800-\\udfff)"),
        ("नमस्ते 😀 \\u0000", None),
        ("", None),
    ],
)
def test_nul_and_lone_surrogates_are_the_text_no_database_stores(text, why):
    assert unstorable(text) == why
