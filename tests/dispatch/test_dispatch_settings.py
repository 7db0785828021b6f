"""The ``[gateway.dispatch]`` table, and the backoff it configures (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dispatch_helpers import load, provider_toml, write_config
from fakevendor import FakeVendorPlugin

from smsgate.dispatch import DispatchSettings
from smsgate.dispatch.backoff import backoff_delay, retry_delay
from smsgate.errors import ConfigError


def _problems(tmp_path: Path, **dispatch: object) -> list[str]:
    path = write_config(
        tmp_path / "smsgate.toml", "sqlite:///x.db", provider_toml("fake", "http://x"), dispatch
    )
    with pytest.raises(ConfigError) as caught:
        load(path, FakeVendorPlugin())
    return caught.value.problems


def test_defaults_keep_the_two_second_promise_and_ten_hour_validity() -> None:
    settings = DispatchSettings()

    assert settings.enabled
    assert settings.poll_interval <= 2
    assert settings.validity == 10 * 3600
    assert settings.lease >= settings.send_timeout + 1


def test_a_mistyped_dispatch_key_is_named_with_the_fix(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, concurency=4)

    assert problem.startswith("gateway.dispatch.concurency: unknown key")


def test_a_lease_shorter_than_a_send_is_refused(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, lease=20, send_timeout=30)
    # A lease set alone, shorter than the default send_timeout, says which default it met.
    [alone] = _problems(tmp_path, lease=120)

    assert problem.startswith("gateway.dispatch:")
    assert "lease (20 s) must be at least send_timeout (30 s" in problem
    assert "lease (120 s) must be at least send_timeout (180 s, 180 s unless set)" in alone


def test_full_jitter_spans_zero_to_the_capped_exponential() -> None:
    assert backoff_delay(0, base=1, cap=300, random=lambda: 0.0) == 0.0
    assert backoff_delay(3, base=1, cap=300, random=lambda: 0.5) == 4.0
    assert backoff_delay(20, base=1, cap=300, random=lambda: 0.5) == 150.0
    assert backoff_delay(10_000, base=1, cap=300, random=lambda: 1.0) == 300.0


def test_retry_after_is_a_floor_clamped_by_max_retry_after() -> None:
    def delay(retry_after: float | None) -> float:
        return retry_delay(0, retry_after, base=1, cap=300, max_retry_after=60, random=lambda: 0.5)

    assert delay(None) == 0.5
    assert delay(30) == 30
    assert delay(7200) == 60
