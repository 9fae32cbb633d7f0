"""The deployment lock under races: 2-4 concurrent runs x 20 rounds for each of fresh take, same digest, stale break
and release against a stale break - exactly one holder every time (issue 15).

The racers are threads, each with its own boto3 client, running the module's own protocol (module_utils.deploy_lock's
LockStore, the code progressive.delivery.deploy_lock runs) against the lab's AWS endpoint in its own process, released
together by a barrier. Not bare moto: its PutParameter(Overwrite=false) is check-then-insert on a threaded server,
so two racers can both create the parameter there; AWS (and the lab, lab/aws/ssm_atomic.py) creates it once. test_deploy_lock.py drives the module itself through ansible-playbook.
"""
import json
import threading

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib

NAME = "/progressive-delivery/locks/race-cluster/myapp"
D1 = "sha256:" + "1" * 64
ROUNDS = 20


def _client(lab):
    return lab.client("ssm")


def _race(lab, jobs):
    """Run each job(store) at once in its own thread; returns [(outcome or 'refused', detail)] in job order."""
    stores = [locklib.LockStore(_client(lab), NAME) for _ in jobs]
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(i):
        barrier.wait()
        try:
            outcome, record, _ = jobs[i](stores[i])
            results[i] = (outcome, record)
        except locklib.LockRefused as e:
            results[i] = ("refused", e.msg)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            results[i] = ("error", repr(e))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r[0] != "error" for r in results), results
    return results


def _current(ssm):
    try:
        return json.loads(ssm.get_parameter(Name=NAME)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def _clear(ssm):
    for name in (NAME, NAME + locklib.CLAIM_SUFFIX):
        try:
            ssm.delete_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            pass


def _stale(ssm, execution_id, digest=D1):
    record = locklib.make_record(execution_id, "crashed", digest, "myapp", 1000, 60)   # expired in 1970
    ssm.put_parameter(Name=NAME, Value=locklib.encode(record), Type="String", Overwrite=True)


def _take(execution_id, digest, **kw):
    return lambda store: store.take(execution_id, "racer", digest, "myapp", 600, **kw)


def _one_holder(ssm, results, takers, ok=("acquired", "broken")):
    winners = [i for i in takers if results[i][0] in ok]
    assert len(winners) == 1, results
    assert all(results[i][0] == "refused" for i in takers if i not in winners), results
    held = _current(ssm)
    assert held is not None and held["execution_id"] == results[winners[0]][1]["execution_id"], (held, results)
    assert held["nonce"] == results[winners[0]][1]["nonce"]
    assert _current_claim(ssm) is None      # every claim was given back


def _current_claim(ssm):
    try:
        return ssm.get_parameter(Name=NAME + locklib.CLAIM_SUFFIX)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


@pytest.mark.parametrize("racers", [2, 4])
def test_fresh_take_has_one_holder(lab, racers):
    ssm = lab.client("ssm")
    for r in range(ROUNDS):
        _clear(ssm)
        jobs = [_take("run-%d-%d" % (r, i), "sha256:%064d" % i) for i in range(racers)]
        _one_holder(ssm, _race(lab, jobs), range(racers))


@pytest.mark.parametrize("racers", [2, 4])
def test_same_digest_twice_has_one_holder(lab, racers):
    """EventBridge delivering one push twice (or four times): one run of the image holds the lock, the others are
    refused and told who holds it - with or without a lock there before."""
    ssm = lab.client("ssm")
    for r in range(ROUNDS):
        _clear(ssm)
        jobs = [_take("run-%d-%d" % (r, i), D1) for i in range(racers)]
        results = _race(lab, jobs)
        _one_holder(ssm, results, range(racers))
        holder = _current(ssm)["execution_id"]
        assert all("held by execution %s" % holder in detail and "resume=true" in detail
                   for outcome, detail in results if outcome == "refused"), results


@pytest.mark.parametrize("racers", [2, 4])
def test_stale_break_has_one_holder(lab, racers):
    ssm = lab.client("ssm")
    for r in range(ROUNDS):
        _clear(ssm)
        _stale(ssm, "crashed-%d" % r)
        jobs = [_take("run-%d-%d" % (r, i), "sha256:%064d" % (i + 2), break_stale=True) for i in range(racers)]
        results = _race(lab, jobs)
        _one_holder(ssm, results, range(racers))
        assert [o for o, _ in results].count("broken") == 1, results


@pytest.mark.parametrize("racers", [2, 4])
def test_release_racing_stale_breakers_leaves_one_holder(lab, racers):
    """The holder releases its (expired) lock while 1-3 other runs break it: whichever comes first, one taker holds
    the lock at the end, and the holder never deletes a lock that is no longer its own."""
    ssm = lab.client("ssm")
    released = refused = 0
    for r in range(ROUNDS):
        _clear(ssm)
        _stale(ssm, "holder-%d" % r)
        jobs = [lambda store, r=r: store.release("holder-%d" % r)]
        jobs += [_take("run-%d-%d" % (r, i), "sha256:%064d" % (i + 2), break_stale=True) for i in range(1, racers)]
        results = _race(lab, jobs)
        _one_holder(ssm, results, range(1, racers))
        assert results[0][0] in ("released", "refused"), results
        released += results[0][0] == "released"
        refused += results[0][0] == "refused"
    assert released + refused == ROUNDS


def test_renew_only_by_the_holder(lab):
    ssm = lab.client("ssm")
    _clear(ssm)
    store = locklib.LockStore(_client(lab), NAME)
    outcome, first, _ = store.take("run-1", "alice", D1, "myapp", 60)
    assert outcome == "acquired"
    outcome, renewed, previous = store.renew("run-1", 600)
    assert outcome == "renewed" and renewed["expires_at"] > first["expires_at"] and renewed["nonce"] == first["nonce"]
    assert _current(ssm)["expires_at"] == renewed["expires_at"]
    with pytest.raises(locklib.LockRefused, match="held by execution run-1 .*not by execution run-2"):
        store.renew("run-2", 600)
    store.release("run-1")
    with pytest.raises(locklib.LockRefused, match="is not held"):
        store.renew("run-1", 600)
    assert _current(ssm) is None


def test_a_dead_claim_is_ignored_after_its_expiry(lab):
    ssm = lab.client("ssm")
    _clear(ssm)
    _stale(ssm, "crashed")
    ssm.put_parameter(Name=NAME + locklib.CLAIM_SUFFIX, Type="String",
                      Value=json.dumps({"execution_id": "killed", "token": "t", "expires_at": 1000}))
    outcome, record, _ = locklib.LockStore(_client(lab), NAME).take("run-1", "a", D1, "myapp", 60, break_stale=True)
    assert outcome == "broken" and _current(ssm)["execution_id"] == "run-1" and _current_claim(ssm) is None
