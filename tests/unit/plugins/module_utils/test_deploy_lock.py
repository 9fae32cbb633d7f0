from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as lock

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_record_round_trips():
    record = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    assert record["expires_at"] == 1600 and len(record["nonce"]) == 32
    assert lock.make_record("42", "alice", D1, "myapp", 1000, 600)["nonce"] != record["nonce"]
    assert lock.decode(lock.encode(record)) == record


def test_decode_tolerates_foreign_values():
    assert lock.decode("not json") == {}
    assert lock.decode("[1, 2]") == {}
    assert lock.decode(None) == {}


def test_classify():
    held = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    assert lock.classify(held, "42", D2, 1100) == lock.HELD_BY_US          # same execution
    assert lock.classify(held, "43", D1, 1100) == lock.SAME_DIGEST         # a duplicate run of the same image
    assert lock.classify(held, "43", D1, 1100, resume=True) == lock.RESUMABLE   # resumed on purpose
    assert lock.classify(held, "43", D2, 1100, resume=True) == lock.BUSY   # resume never takes another image's lock
    assert lock.classify(held, "43", D2, 1100) == lock.BUSY                # another digest while in flight
    assert lock.classify(held, "43", D2, 1600) == lock.STALE               # past expiry
    assert lock.classify(held, "43", D1, 1600) == lock.STALE
    assert lock.classify(held, "43", None, 1100) == lock.BUSY
    assert lock.classify(held, "43", None, 1100, resume=True) == lock.BUSY


def test_take_decision():
    assert lock.take_decision(lock.HELD_BY_US) == ("renewed", None)
    assert lock.take_decision(lock.RESUMABLE) == ("resumed", None)
    assert lock.take_decision(lock.STALE, break_stale=True) == ("broken", None)
    assert lock.take_decision(lock.STALE)[0] is None and "break_stale=true" in lock.take_decision(lock.STALE)[1]
    assert lock.take_decision(lock.SAME_DIGEST)[0] is None and "resume=true" in lock.take_decision(lock.SAME_DIGEST)[1]
    assert lock.take_decision(lock.BUSY)[0] is None
    assert lock.take_decision(lock.BUSY, force=True) == ("forced", None)
    assert lock.take_decision(lock.BUSY, break_stale=True)[0] is None      # break_stale breaks only stale locks


def test_step_ttl_covers_one_step():
    assert lock.step_ttl([300, 600, 1800]) == 2100
    assert lock.step_ttl([300, 600, 1800], extension_seconds=600, margin_seconds=120) == 2520
    assert lock.step_ttl([5, 5], margin_seconds=60, floor_seconds=900) == 960
    assert lock.step_ttl([]) == 300


def test_check_inputs_names_the_input():
    good = dict(name="/progressive-delivery/locks/c/myapp", execution_id="20261201T000000Z-1234", ttl_seconds=600)
    assert lock.check_inputs(good) is None
    for field, value in [("name", "relative/path"), ("name", "/a b"), ("name", "/aws/x"), ("name", "/a//b"),
                         ("name", "/x;rm"), ("execution_id", ""), ("execution_id", "a b"), ("execution_id", "x" * 129),
                         ("ttl_seconds", 0), ("ttl_seconds", -5), ("ttl_seconds", 10 ** 9)]:
        problem = lock.check_inputs(dict(good, **{field: value}))
        assert problem and problem.startswith(field), (field, value, problem)


def test_describe_holder_names_execution_and_age():
    held = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    text = lock.describe_holder(held, 1000 + 125)
    assert "execution 42 (alice)" in text and "held 2m 5s" in text and "expires in 7m 55s" in text
    assert "expired 10s ago" in lock.describe_holder(held, 1610)


def test_human_duration():
    assert lock.human_duration(5) == "5s"
    assert lock.human_duration(3725) == "1h 2m"


def test_a_take_of_the_same_digest_keeps_when_the_deployment_began():
    first = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    assert first["deployment_started_at"] == 1000
    resumed = lock.carry_deployment_start(lock.make_record("43", "bob", D1, "myapp", 1300, 600), first)
    assert resumed["deployment_started_at"] == 1000 and resumed["acquired_at"] == 1300
    # resumed twice: still the first run's start, when live last served everything
    again = lock.carry_deployment_start(lock.make_record("44", "bob", D1, "myapp", 1900, 600), resumed)
    assert again["deployment_started_at"] == 1000
    # a lock written before the field existed: its acquisition is the best known start
    legacy = {k: v for k, v in first.items() if k != "deployment_started_at"}
    assert lock.carry_deployment_start(lock.make_record("43", "bob", D1, "myapp", 1300, 600), legacy)[
        "deployment_started_at"] == 1000
    # another image (forced over a busy lock) starts a deployment of its own
    assert lock.carry_deployment_start(lock.make_record("43", "bob", D2, "myapp", 1300, 600), first)[
        "deployment_started_at"] == 1300
    assert lock.carry_deployment_start(lock.make_record("43", "bob", D1, "myapp", 1300, 600), None)[
        "deployment_started_at"] == 1300
