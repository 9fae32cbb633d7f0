import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import hold

NOW = 1796166000   # 2026-12-01T23:00:00Z
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/myapp-alb/1/2"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/3"


def tags(seconds=1800, taskdef="myapp:7", existing=None, now=NOW):
    return hold.hold_tags(now, seconds, "exec-1", taskdef, LISTENER, TG, "/locks/myapp", existing=existing)


def test_iso_round_trip():
    assert hold.iso(NOW) == "2026-12-01T23:00:00Z"
    assert hold.epoch("2026-12-01T23:00:00Z") == NOW
    with pytest.raises(ValueError):
        hold.epoch("2026-12-01 23:00")


def test_hold_tags_record_the_end_and_what_is_held():
    recorded = tags()
    assert recorded[hold.TAG_UNTIL] == "2026-12-01T23:30:00Z"
    parsed = hold.parse(recorded)
    assert parsed["until_epoch"] == NOW + 1800 and parsed["task_definition"] == "myapp:7"
    assert parsed["listener_arn"] == LISTENER and parsed["target_group_arn"] == TG and parsed["lock_name"] == "/locks/myapp"
    assert all(len(v) <= 256 for v in recorded.values())   # ECS tag value limit


def test_a_rerun_keeps_the_recorded_hold_a_new_revision_starts_a_new_one():
    first = tags()
    assert tags(existing=dict(first, other="x"), now=NOW + 600) == first
    assert tags(existing=first, taskdef="myapp:8", now=NOW + 600)[hold.TAG_UNTIL] == "2026-12-01T23:40:00Z"


def test_parse_ignores_services_without_a_readable_hold():
    assert hold.parse({}) is None and hold.parse(None) is None
    assert hold.parse({hold.TAG_UNTIL: "soon"}) is None


def test_remaining():
    record = hold.parse(tags(seconds=60))
    assert hold.remaining(record, NOW) == 60
    assert hold.remaining(record, NOW + 61) == 0


@pytest.mark.parametrize("at,desired,taskdef,percent,lock,decision", [
    (NOW + 10, 4, "myapp:7", 0, False, hold.HOLDING),
    (NOW + 1800, 4, "myapp:7", 0, False, hold.EXPIRED),       # exactly at the end: passed
    (NOW + 5000, 4, "myapp:7", 0, False, hold.EXPIRED),
    (NOW + 5000, 4, "myapp:7", 100, False, hold.SERVING),     # rolled back to: never scaled down
    (NOW + 5000, 4, "myapp:7", 10, True, hold.SERVING),       # reused by a deployment at 10 %
    (NOW + 5000, 4, "myapp:8", 0, True, hold.SUPERSEDED),     # reused by a deployment before its first shift
    (NOW + 5000, 4, "myapp:7", 0, True, hold.LOCKED),
    (NOW + 5000, 0, "myapp:7", 0, False, hold.DONE),
    (NOW + 10, 0, "myapp:7", 0, True, hold.DONE),
])
def test_decide(at, desired, taskdef, percent, lock, decision):
    got, reason = hold.decide(hold.parse(tags()), at, desired, taskdef, percent, lock)
    assert got == decision, reason
    assert reason


def test_only_an_expired_idle_slot_is_scaled_down():
    """Of every combination, only 'passed, same revision, no traffic, no lock, running' scales down."""
    record = hold.parse(tags())
    for at in (NOW, NOW + 1800):
        for desired in (0, 2):
            for taskdef in ("myapp:7", "myapp:8"):
                for percent in (0, 1, 100):
                    for lock in (False, True):
                        got, _ = hold.decide(record, at, desired, taskdef, percent, lock)
                        expect = at >= NOW + 1800 and desired and taskdef == "myapp:7" and not percent and not lock
                        assert (got == hold.EXPIRED) == bool(expect), (at, desired, taskdef, percent, lock, got)


def arn(n, family="myapp"):
    return "arn:aws:ecs:us-east-1:123456789012:task-definition/%s:%d" % (family, n)


def test_revisions_to_deregister_keeps_newest_and_those_in_use():
    active = [arn(n) for n in range(1, 16)] + [arn(3, "myapp-worker"), arn(40, "myapp-worker")]
    assert hold.revisions_to_deregister("myapp", active, 10, []) == ["myapp:%d" % n for n in range(1, 6)]
    assert hold.revisions_to_deregister("myapp", active, 10, [arn(2), "myapp:4", arn(2, "myapp-worker")]) == \
        ["myapp:1", "myapp:3", "myapp:5"]
    assert hold.revisions_to_deregister("myapp-worker", active, 1, []) == ["myapp-worker:3"]


def test_revisions_to_deregister_edges():
    active = [arn(n) for n in (5, 1, 9)]
    assert hold.revisions_to_deregister("myapp", active, 3, []) == []
    assert hold.revisions_to_deregister("myapp", active, 0, []) == []
    assert hold.revisions_to_deregister("myapp", active, 1, [arn(9)]) == ["myapp:1", "myapp:5"]
    assert hold.revisions_to_deregister("myapp", [], 2, []) == []
    assert hold.revision_number("myapp:12") == ("myapp", 12)


def test_a_blocking_hold_renews_only_its_own_lock_and_only_when_it_would_go_stale_during_the_wait():
    ours = {"execution_id": "exec-1", "expires_at": NOW + 120}
    assert hold.lock_extension_seconds(ours, "exec-1", NOW, 1800) == 1800 + hold.LOCK_MARGIN_SECONDS
    assert hold.lock_extension_seconds(ours, "exec-1", NOW, 1800, margin_seconds=60) == 1860
    # it outlasts the wait and the margin already: not shortened, not written
    assert hold.lock_extension_seconds(dict(ours, expires_at=NOW + 3000), "exec-1", NOW, 1800) is None
    assert hold.lock_extension_seconds(dict(ours, expires_at=NOW + 2100), "exec-1", NOW, 1800) is None
    assert hold.lock_extension_seconds(dict(ours, expires_at=NOW + 2099), "exec-1", NOW, 1800) == 2100
    # not this execution's: absent, another run's, or a record without expiry of another run
    assert hold.lock_extension_seconds(None, "exec-1", NOW, 1800) is None
    assert hold.lock_extension_seconds({}, "exec-1", NOW, 1800) is None
    assert hold.lock_extension_seconds(dict(ours, execution_id="exec-2"), "exec-1", NOW, 1800) is None
    assert hold.lock_extension_seconds({"execution_id": "exec-1"}, "exec-1", NOW, 10) == 10 + hold.LOCK_MARGIN_SECONDS
