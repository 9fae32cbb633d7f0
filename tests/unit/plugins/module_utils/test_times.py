import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge, deployment_report, hold, times

NOON = 1764590400.0  # 2025-12-01T12:00:00Z


@pytest.mark.parametrize("value, expected", [
    ("2025-12-01T12:00:00Z", NOON),
    ("2025-12-01T12:00:00z", NOON),
    ("2025-12-01T13:00:00+01:00", NOON),
    ("2025-12-01T12:00:00", NOON),          # naive is UTC
    ("2025-12-01T12:00:00.500Z", NOON + 0.5),
    (NOON, NOON), (int(NOON), NOON), (" %s " % NOON, NOON),
])
def test_to_epoch_reads_iso_and_epoch(value, expected):
    assert times.to_epoch(value) == expected


def test_relative_times_need_now():
    assert times.to_epoch("-15m", now=NOON) == NOON - 900
    assert times.to_epoch("-1.5h", now=NOON) == NOON - 5400
    assert times.to_epoch("-1d", now=NOON) == NOON - 86400
    with pytest.raises(ValueError):
        times.to_epoch("-15m")


@pytest.mark.parametrize("value", [None, True, "", "  ", "yesterday", float("nan"), float("inf"), "nan", "inf"])
def test_not_a_time(value):
    with pytest.raises(ValueError):
        times.to_epoch(value)
    assert times.parse_time(value) is None


def test_iso_round_trips():
    assert times.iso(NOON + 0.9) == "2025-12-01T12:00:00Z"
    assert times.to_epoch(times.iso(NOON)) == NOON


def test_every_reader_is_the_one_parser():
    assert deployment_report.parse_time is times.parse_time
    assert canary_judge.iso is times.iso and hold.iso is times.iso
    assert canary_judge.parse_time("-15m", NOON) == NOON - 900
    assert canary_judge.parse_time(None, NOON) is None
    with pytest.raises(ValueError, match="is not a time: use ISO 8601"):
        canary_judge.parse_time("soon", NOON)
    assert hold.epoch("2025-12-01T12:00:00Z") == int(NOON)
    with pytest.raises(ValueError):
        hold.epoch("2025-12-01T12:00:00+00:00")  # hold tags are written one way only
