from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as lock

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_record_round_trips():
    record = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    assert record["expires_at"] == 1600
    assert lock.decode(lock.encode(record)) == record


def test_decode_tolerates_foreign_values():
    assert lock.decode("not json") == {}
    assert lock.decode("[1, 2]") == {}
    assert lock.decode(None) == {}


def test_classify():
    held = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    assert lock.classify(held, "42", D2, 1100) == lock.HELD_BY_US          # same execution
    assert lock.classify(held, "43", D1, 1100) == lock.HELD_BY_US          # rerun of the same deployment
    assert lock.classify(held, "43", D2, 1100) == lock.BUSY                # another digest while in flight
    assert lock.classify(held, "43", D2, 1600) == lock.STALE               # past expiry
    assert lock.classify(held, "43", None, 1100) == lock.BUSY


def test_describe_holder_names_execution_and_age():
    held = lock.make_record("42", "alice", D1, "myapp", 1000, 600)
    text = lock.describe_holder(held, 1000 + 125)
    assert "execution 42 (alice)" in text and "held 2m 5s" in text and "expires in 7m 55s" in text
    assert "expired 10s ago" in lock.describe_holder(held, 1610)


def test_human_duration():
    assert lock.human_duration(5) == "5s"
    assert lock.human_duration(3725) == "1h 2m"
