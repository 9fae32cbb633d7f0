"""The pure part of elb_target_batch: input checks, what a call changes, when the wait is over, the bounded poll."""
import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import elb_target_batch as batch

A = {"Id": "10.0.0.11", "Port": 8080}
B = {"Id": "10.0.0.12", "Port": 8080}


def health(*pairs):
    return [{"Target": dict(target), "TargetHealth": {"State": state}} for target, state in pairs]


@pytest.mark.parametrize("targets, fragment", [
    ("10.0.0.11", "targets must be a list"),
    ([{"port": 80}], "targets[0] needs an id"),
    ([{"id": "a", "port": "x"}], "targets[0] (a) needs a port"),
    ([{"id": "a", "port": 0}], "needs a port 1-65535"),
    ([{"id": "a", "port": 70000}], "needs a port 1-65535"),
    ([{"id": "a", "port": 80}, {"id": "a", "port": "80"}], "targets[1] (a:80) is given twice"),
])
def test_bad_targets_are_refused_naming_them(targets, fragment):
    errors = batch.check_targets(targets)
    assert errors and any(fragment in e for e in errors), errors


def test_good_targets_pass_and_normalize():
    targets = [{"id": "10.0.0.11", "port": "8080"}, {"id": "10.0.0.11", "port": 8081}]
    assert batch.check_targets(targets) == []
    assert batch.normalize(targets) == [{"Id": "10.0.0.11", "Port": 8080}, {"Id": "10.0.0.11", "Port": 8081}]
    assert batch.check_targets([]) == []


def test_states_of_targets_not_registered_are_unused():
    now = batch.states(health((A, "healthy"), ({"Id": "10.0.0.99", "Port": 8080}, "healthy")), [A, B])
    assert now == {"10.0.0.11:8080": "healthy", "10.0.0.12:8080": "unused"}


def test_same_id_on_another_port_is_another_target():
    now = batch.states(health(({"Id": "10.0.0.11", "Port": 9090}, "healthy")), [A])
    assert now == {"10.0.0.11:8080": "unused"}


def test_what_a_call_changes():
    now = {"a:1": "healthy", "b:1": "draining", "c:1": "unused", "d:1": "initial", "e:1": "unhealthy"}
    assert batch.to_change("absent", now) == ["a:1", "d:1", "e:1"]          # draining ones are on their way out
    assert batch.to_change("present", now) == ["b:1", "c:1"]                # draining ones come back


def test_when_the_wait_is_over():
    now = {"a:1": "healthy", "b:1": "draining", "c:1": "unused", "d:1": "initial"}
    assert batch.pending("absent", now) == ["a:1", "b:1", "d:1"]
    assert batch.pending("present", now) == ["b:1", "c:1", "d:1"]
    assert batch.pending("present", now, wait_healthy=False) == ["b:1", "c:1"]
    assert batch.pending("absent", {"a:1": "unused"}) == []


class Clock:
    def __init__(self):
        self.t = 1000.0
        self.sleeps = []

    def time(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def test_wait_polls_until_drained():
    reads = iter([health((A, "draining"), (B, "draining")), health((A, "draining")), []])
    clock = Clock()
    done, now, waited = batch.wait_until(lambda: next(reads), "absent", [A, B], 60, 2, clock=clock.time, sleep=clock.sleep)
    assert done and now == {"10.0.0.11:8080": "unused", "10.0.0.12:8080": "unused"}
    assert clock.sleeps == [2, 2] and waited == 4


def test_wait_is_bounded_and_reports_the_late_targets():
    clock = Clock()
    done, now, waited = batch.wait_until(lambda: health((A, "healthy"), (B, "unhealthy")), "present", [A, B], 5, 2,
                                         clock=clock.time, sleep=clock.sleep)
    assert not done and now["10.0.0.12:8080"] == "unhealthy"
    assert waited == 5 and sum(clock.sleeps) == 5                          # the last sleep is cut to the timeout
    assert batch.pending("present", now) == ["10.0.0.12:8080"]


def test_nothing_pending_reads_once():
    clock = Clock()
    done, now, waited = batch.wait_until(lambda: health((A, "healthy")), "present", [A], 60, 2,
                                         clock=clock.time, sleep=clock.sleep)
    assert done and waited == 0 and clock.sleeps == []
