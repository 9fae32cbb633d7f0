from aws_world import ssm_value
from harness import localhost_play, run_playbook

NAME = "/progressive-delivery/locks/prod-ecs-cluster/myapp"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def lock(moto, check=False, **args):
    params = dict(name=NAME, execution_id="run-1", owner="alice", digest=D1, service="myapp")
    params.update(args)
    return run_playbook(localhost_play([{"name": "lock", "progressive.delivery.deploy_lock": params}], moto.url), check=check)


def test_take_resume_refuse_release(moto):
    first = lock(moto)
    assert first.rc == 0, first
    assert first.task("lock")["outcome"] == "acquired" and first.task("lock")["changed"] is True
    assert ssm_value(moto, NAME)["execution_id"] == "run-1"

    # The same execution again renews it; another execution of the same image (an event delivered twice) is refused.
    again = lock(moto)
    assert again.rc == 0 and again.task("lock")["outcome"] == "renewed", again
    duplicate = lock(moto, execution_id="run-2")
    assert duplicate.rc != 0
    assert "held by execution run-1 (alice)" in duplicate.task("lock")["msg"]
    assert "resume=true" in duplicate.task("lock")["msg"]
    assert ssm_value(moto, NAME)["execution_id"] == "run-1"

    # Resumed on purpose by a new execution of the same image: taken over.
    rerun = lock(moto, execution_id="run-2", resume=True)
    assert rerun.rc == 0, rerun
    assert rerun.task("lock")["outcome"] == "resumed"
    assert ssm_value(moto, NAME)["execution_id"] == "run-2"

    # Only the holder renews it; the one it was taken from is told who holds it now.
    lost = lock(moto, execution_id="run-1", state="renewed", ttl_seconds=60)
    assert lost.rc != 0 and lost.task("lock")["lock_state"] == "lost"
    assert "held by execution run-2 (alice)" in lost.task("lock")["msg"]
    expires = ssm_value(moto, NAME)["expires_at"]
    renewed = lock(moto, execution_id="run-2", state="renewed", ttl_seconds=8000)
    assert renewed.rc == 0 and renewed.task("lock")["outcome"] == "renewed", renewed
    assert ssm_value(moto, NAME)["expires_at"] > expires

    # A different digest is refused, naming the holder and its age; nothing is changed.
    refused = lock(moto, execution_id="run-3", digest=D2, owner="bob")
    assert refused.rc != 0
    msg = refused.task("lock")["msg"]
    assert "execution run-2 (alice)" in msg and "held " in msg and D1 in msg
    assert ssm_value(moto, NAME)["execution_id"] == "run-2"

    # Only the holder releases it; then it is gone and releasing again changes nothing.
    assert lock(moto, execution_id="run-3", digest=D2, state="absent").rc != 0
    assert lock(moto, execution_id="run-1", state="absent").rc != 0      # same image, not the holder
    released = lock(moto, execution_id="run-2", state="absent")
    assert released.task("lock")["outcome"] == "released"
    again = lock(moto, execution_id="run-2", state="absent")
    assert again.task("lock")["changed"] is False


def test_stale_lock_is_broken_only_when_asked(moto):
    assert lock(moto, ttl_seconds=1).rc == 0
    import time
    time.sleep(1.5)
    assert "break it with break_stale=true" in lock(moto, execution_id="run-9", digest=D2).task("lock")["msg"]
    broken = lock(moto, execution_id="run-9", digest=D2, break_stale=True)
    assert broken.task("lock")["outcome"] == "broken"
    assert ssm_value(moto, NAME)["digest"] == D2


def test_check_mode_writes_nothing(moto):
    result = lock(moto, check=True)
    assert result.rc == 0 and result.task("lock")["changed"] is True
    params = moto.client("ssm").describe_parameters()["Parameters"]
    assert params == []
    assert lock(moto).rc == 0
    before = ssm_value(moto, NAME)
    for args in (dict(state="renewed", ttl_seconds=9000), dict(state="absent"),
                 dict(execution_id="run-2", resume=True)):
        checked = lock(moto, check=True, **args)
        assert checked.rc == 0 and checked.task("lock")["changed"] is True, (args, checked)
        assert ssm_value(moto, NAME) == before, args
    assert [p["Name"] for p in moto.client("ssm").describe_parameters()["Parameters"]] == [NAME]   # no claim left
