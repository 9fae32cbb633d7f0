"""The audit callback's CloudWatch Logs shipper survives failed puts: it buffers, backs off, ships in order later."""
import json

import pytest
from botocore.exceptions import ClientError

from ansible_collections.progressive.delivery.plugins.callback import deployment_audit as audit


class FakeLogs(object):
    """put_log_events failing while `failing` is set; records what got through."""

    class exceptions(object):
        class ResourceAlreadyExistsException(Exception):
            pass

    def __init__(self):
        self.failing = False
        self.events = []
        self.puts = 0

    def create_log_stream(self, **kwargs):
        if self.failing:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "CreateLogStream")

    def put_log_events(self, logGroupName, logStreamName, logEvents):
        self.puts += 1
        if self.failing:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutLogEvents")
        stamps = [e["timestamp"] for e in logEvents]
        assert stamps == sorted(stamps), "put_log_events needs chronological events"
        self.events.extend(logEvents)


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def shipper():
    warnings = []
    clock = Clock()
    s = audit.CloudWatchShipper("/deployments/audit", "stream", "us-east-1", "http://127.0.0.1:1", None, warnings.append,
                                clock=clock, rand=lambda: 1.0)
    s.client = FakeLogs()
    return s, s.client, clock, warnings


def record(n, kind="step"):
    return {"record": kind, "n": n}


def shipped(logs):
    return [json.loads(e["message"])["n"] for e in logs.events]


def test_a_failed_put_is_retried_later_in_order_and_nothing_is_lost(shipper):
    s, logs, clock, warnings = shipper
    s.ship(record(1))
    logs.failing = True
    s.ship(record(2))                      # fails: buffered, next try in RETRY_BASE_S
    assert s.buffer and s.failures == 1 and not s.broken
    puts = logs.puts
    clock.now += 1
    s.ship(record(3))                      # inside the pause: not even tried
    assert logs.puts == puts
    clock.now += 1.5
    s.ship(record(4))                      # tried again, fails again: the pause doubles
    assert s.failures == 2 and s.retry_at == pytest.approx(clock.now + 4.0)
    logs.failing = False
    clock.now += 5
    s.ship(record(5))
    assert shipped(logs) == [1, 2, 3, 4, 5] and not s.buffer
    assert len(warnings) == 2 and "buffered and shipped again later" in warnings[0] and "works again after 2" in warnings[1]


def test_the_last_record_is_tried_at_once_and_leftovers_are_reported(shipper):
    s, logs, clock, warnings = shipper
    logs.failing = True
    s.ship(record(1))
    logs.failing = False
    s.ship(record(2, kind="playbook_end"))  # inside the pause, but the run is ending
    assert shipped(logs) == [1, 2]
    logs.failing = True
    s.ship(record(3))
    s.ship(record(4, kind="playbook_end"))
    assert "2 record(s) not shipped" in warnings[-1]


def test_the_pause_is_capped_and_the_buffer_bounded(shipper):
    s, logs, clock, warnings = shipper
    s.MAX_BUFFERED = 5
    logs.failing = True
    for n in range(12):
        clock.now += 1000
        s.ship(record(n))
    assert s.retry_at - clock.now == pytest.approx(s.RETRY_CAP_S)
    assert len(s.buffer) == 5 and s.dropped == 7
    logs.failing = False
    clock.now += 1000
    s.ship(record(12))
    assert shipped(logs) == [8, 9, 10, 11, 12]
    assert "8 oldest record(s) dropped" in warnings[-1]   # 0..7: the buffer held 5 when record 12 came
