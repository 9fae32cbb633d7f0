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

    # The same deployment rerun by another execution takes it over (resume).
    rerun = lock(moto, execution_id="run-2")
    assert rerun.rc == 0, rerun
    assert rerun.task("lock")["outcome"] == "resumed"
    assert ssm_value(moto, NAME)["execution_id"] == "run-2"

    # A different digest is refused, naming the holder and its age; nothing is changed.
    refused = lock(moto, execution_id="run-3", digest=D2, owner="bob")
    assert refused.rc != 0
    msg = refused.task("lock")["msg"]
    assert "execution run-2 (alice)" in msg and "held " in msg and D1 in msg
    assert ssm_value(moto, NAME)["execution_id"] == "run-2"

    # Only the holder releases it; then it is gone and releasing again changes nothing.
    assert lock(moto, execution_id="run-3", digest=D2, state="absent").rc != 0
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
