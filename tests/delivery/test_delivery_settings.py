"""The ``[gateway.delivery]`` table."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smsgate.delivery.settings import DeliverySettings


def test_the_defaults_follow_clevertaps_advice_and_keep_reports_72_hours():
    settings = DeliverySettings()

    assert settings.relay_first_delay == 600
    assert settings.relay_batch_size == 100
    assert settings.inbox_retention == 72 * 3600


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"relay_batch_size": 101}, "less than or equal to 100"),
        ({"relay_lease": 5, "relay_timeout": 10}, r"relay_lease \(5 s\) must be at least"),
        ({"relay_first_delay": 0}, "greater than 0"),
        ({"relay_backof_cap": 1}, "Extra inputs are not permitted"),
    ],
)
def test_wrong_values_are_refused_with_the_reason(values, problem):
    with pytest.raises(ValidationError, match=problem):
        DeliverySettings(**values)


def test_the_table_is_read_from_the_config_file(make_config):
    config = make_config(extra="")
    assert config.settings.gateway.delivery == DeliverySettings()
