"""ECS blue-green in the lab: a deployment killed half-way (at 50 %) is resumed by a rerun, blocks other
releases meanwhile, or is undone by playbooks/ecs_rollback.yml.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from ecs_e2e import INVENTORY, PLAYBOOK, ROLLBACK, phases
from harness import AWS_ENV, REPO, VENV_BIN, run_playbook

pytestmark = pytest.mark.lab


def _start_in_background(world, tag):
    cmd = [str(VENV_BIN / "ansible-playbook"), str(PLAYBOOK), "-i", str(INVENTORY), "-e", "ecs_validate_image_tag=%s" % tag,
           "-e", json.dumps(world.lab_vars())]
    env = dict(os.environ, **AWS_ENV, **world.env())
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    return subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_at(world, proc, percent, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the deployment ended before reaching %d %%" % percent
        if world.weights().get("b") == percent:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("the deployment never reached %d %%" % percent)


def test_killed_at_50_resumes_and_a_different_tag_is_refused_meanwhile(world):
    _kill_at(world, _start_in_background(world, "v1.2.3"), 50)
    held = world.lock()
    assert held and held["digest"] == world.digest_of_tag("v1.2.3")

    other = world.deploy("v1.2.4-slow")
    assert other.rc != 0
    msg = json.dumps(other.failures())
    assert "execution %s" % held["execution_id"] in msg and "held " in msg
    assert world.weights() == {"a": 50, "b": 50}

    # The same image again from a new run (an event delivered twice) is refused: the holder is the execution.
    duplicate = world.deploy("v1.2.3")
    assert duplicate.rc != 0
    msg = json.dumps(duplicate.failures())
    assert "held by execution %s" % held["execution_id"] in msg and "resume=true" in msg, msg
    assert world.weights() == {"a": 50, "b": 50}

    # Resumed on purpose: the new run takes the lock over and continues from 50 %.
    resumed = world.deploy("v1.2.3", ecs_validate_resume=True)
    assert resumed.rc == 0, resumed
    steps = [r["step"] for r in phases(world.records(), "shift") if r.get("execution_id") != held["execution_id"]]
    assert steps == [50, 100], steps
    assert world.weights() == {"a": 0, "b": 100}


def test_killed_at_50_then_ecs_rollback_restores_100_live(world):
    _kill_at(world, _start_in_background(world, "v1.2.3"), 50)
    result = run_playbook(ROLLBACK, inventory=INVENTORY, env=world.env(), extra_vars=world.lab_vars())
    assert result.rc == 0, result
    assert world.weights() == {"a": 100, "b": 0}
    assert world.service("b")["desiredCount"] == 0
    assert world.lock() is None


def test_rollback_forced_to_a_slot_running_no_tasks_is_refused_with_nothing_changed(world):
    """Slot b runs no tasks at rest: sending production there would answer 503 to everyone."""
    before = world.snapshot()
    result = run_playbook(ROLLBACK, inventory=INVENTORY, env=world.env(),
                          extra_vars=dict(world.lab_vars(), ecs_rollback_to_slot="b"))
    assert result.rc != 0
    assert "target group myapp-b has 0 healthy targets" in json.dumps(result.failures()), result.failures()
    assert world.snapshot() == before
