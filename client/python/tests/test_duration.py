"""parse_duration: the same rules as the C++ ParseDurationMs."""

import pytest

from taskmill import parse_duration


def test_units():
    assert parse_duration("250ms") == 250
    assert parse_duration("30s") == 30_000
    assert parse_duration("5m") == 300_000
    assert parse_duration("2h") == 7_200_000
    assert parse_duration(1500) == 1500


@pytest.mark.parametrize("bad", ["", "30", "1.5s", "5 m", "5M", "1d", "0s", "-5s", "8761h",
                                 "1h30m", True])
def test_refused_naming_what_is_allowed(bad):
    with pytest.raises(ValueError, match=r"every: .*ms, s, m or h"):
        parse_duration(bad, "every")
