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


def test_holder_fast_path_only_for_our_lock_far_from_expiry():
    held = lock.make_record("42", "alice", D1, "myapp", 1000, 600)          # expires at 1600
    assert lock.holder_fast_path(held, "42", 1100)                          # ours, 500 s left
    assert not lock.holder_fast_path(held, "43", 1100)                      # another execution's
    assert not lock.holder_fast_path(held, "42", 1600 - lock.CLAIM_TTL)     # within the claim TTL of expiry
    assert lock.holder_fast_path(held, "42", 1600 - lock.CLAIM_TTL - 1)
    assert not lock.holder_fast_path(held, "42", 1700)                      # stale
    assert not lock.holder_fast_path(None, "42", 1100) and not lock.holder_fast_path({}, "42", 1100)
    assert lock.holder_fast_path(held, "42", 1500, margin=50) and not lock.holder_fast_path(held, "42", 1500, margin=100)


class _CountingSSM(object):
    """An SSM stand-in counting calls: a dict of parameters, Overwrite=false honoured."""

    def __init__(self):
        self.params, self.calls = {}, []

    def _error(self, code):
        err = Exception(code)
        err.response = {"Error": {"Code": code}}
        return err

    def get_parameter(self, Name):
        self.calls.append(("get", Name))
        if Name not in self.params:
            raise self._error("ParameterNotFound")
        return {"Parameter": {"Value": self.params[Name]}}

    def put_parameter(self, Name, Value, Overwrite, **_):
        self.calls.append(("put", Name))
        if Name in self.params and not Overwrite:
            raise self._error("ParameterAlreadyExists")
        self.params[Name] = Value

    def delete_parameter(self, Name):
        self.calls.append(("delete", Name))
        if Name not in self.params:
            raise self._error("ParameterNotFound")
        del self.params[Name]


def test_holder_renews_and_releases_in_two_calls_and_claims_near_expiry():
    clock = [1000.0]
    ssm = _CountingSSM()
    store = lock.LockStore(ssm, "/locks/app", clock=lambda: clock[0], sleep=lambda s: None)
    assert store.take("42", "alice", D1, "app", 600)[0] == "acquired" and len(ssm.calls) == 1
    ssm.calls[:] = []
    outcome, record, _ = store.renew("42", 600)
    assert outcome == "renewed" and record["expires_at"] == 1600
    assert ssm.calls == [("get", "/locks/app"), ("put", "/locks/app")]      # no claim
    ssm.calls[:] = []
    clock[0] = 1600 - lock.CLAIM_TTL + 1                                     # near expiry: under the claim
    assert store.renew("42", 600)[0] == "renewed"
    assert ("put", "/locks/app.claim") in ssm.calls and "/locks/app.claim" not in ssm.params
    ssm.calls[:] = []
    assert store.release("42")[0] == "released"
    assert ssm.calls == [("get", "/locks/app"), ("delete", "/locks/app")]
    assert store.release("42")[0] == "absent"


def test_foreign_renew_and_release_refused_without_writing():
    clock = [1000.0]
    ssm = _CountingSSM()
    store = lock.LockStore(ssm, "/locks/app", clock=lambda: clock[0], sleep=lambda s: None)
    store.take("42", "alice", D1, "app", 600)
    ssm.calls[:] = []
    for call in (lambda: store.renew("43", 600), lambda: store.release("43")):
        try:
            call()
            raise AssertionError("not refused")
        except lock.LockRefused as e:
            assert "held by execution 42" in e.msg
    assert all(kind == "get" for kind, _ in ssm.calls)
    assert store.release("43", force=True)[0] == "released"                 # force keeps the claim
    assert ("put", "/locks/app.claim") in ssm.calls
