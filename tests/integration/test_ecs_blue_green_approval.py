"""The approval prompt of playbooks/ecs_blue_green.yml outside AWX (ecs_bg_require_approval, issue 7).

An operator at a terminal sees the plan and answers; anything but "yes" stops the run after validation with nothing
changed and the lock it took released. The prompt is driven through a real pseudo-terminal (ansible's pause reads the
controlling terminal), with bounded reads.
"""
import json
import os
import pty
import re
import select
import time

import pytest

from ecs_e2e import INVENTORY, LOCK, PLAYBOOK, World
from harness import AWS_ENV, REPO, VENV_BIN

pytestmark = pytest.mark.lab

PROMPT = "Type yes to deploy"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_terminal(args, env, answer, timeout=300, retype_after=10, max_answers=5, on_prompt=None):
    """Run ansible-playbook on a new pseudo-terminal; type `answer` when the approval prompt shows.

    ansible shows the prompt and then flushes pending input before it reads, so an answer typed at once can be
    thrown away: type it after a short pause, and again (a bounded number of times) while nothing follows the prompt.
    `on_prompt`, when given, is called once the prompt shows, before the answer is typed (what happens while an
    operator thinks). Returns (exit status, everything the terminal showed, whether the prompt was seen)."""
    pid, fd = pty.fork()
    if pid == 0:   # child: the pty is its controlling terminal, stdin and stdout
        try:
            os.chdir(str(REPO))
            os.execve(str(VENV_BIN / "ansible-playbook"), [str(VENV_BIN / "ansible-playbook")] + args, env)
        finally:
            os._exit(127)
    shown, deadline = b"", time.monotonic() + timeout
    prompt_seen_at, answered_at, answers = None, None, 0
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            after_prompt = shown[shown.index(PROMPT.encode()):] if prompt_seen_at else b""
            if prompt_seen_at and b"TASK [" not in after_prompt and answers < max_answers and now - prompt_seen_at > 1.5 \
                    and (answered_at is None or now - answered_at > retype_after):
                os.write(fd, answer.encode() + b"\r")
                answered_at, answers = now, answers + 1
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:   # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if prompt_seen_at is None and PROMPT.encode() in shown:
                if on_prompt:
                    on_prompt()
                prompt_seen_at = time.monotonic()
        else:
            os.kill(pid, 9)
            pytest.fail("ansible-playbook still running after %ss:\n%s" % (timeout, shown.decode(errors="replace")[-4000:]))
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", shown.decode(errors="replace")), prompt_seen_at is not None


@pytest.fixture
def world_at_rest(lab_world, tmp_path):
    """The seeded world at rest and without a deployment lock. Seeded again for each test: a run killed mid-prompt
    leaves a lock, and a release rolled back by an earlier test in this worker leaves its candidate's revision on
    slot b, which the plan reads as a deployment to resume (in_progress, whose lock a refusal keeps)."""
    world = World(lab_world, tmp_path, traffic=None)
    proc = lab_world.cli("reset", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert world.lock() is None
    return world


def test_answer_no_at_the_prompt_stops_after_validation_with_nothing_changed(world_at_rest):
    world = world_at_rest
    before = world.snapshot()
    extra = dict(world.lab_vars(), ecs_validate_image_tag="v1.2.3", ecs_bg_require_approval=True)
    env = dict(os.environ, **AWS_ENV)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    rc, shown, prompted = run_on_terminal([str(PLAYBOOK), "-i", str(INVENTORY), "-e", json.dumps(extra)], env, "no")

    assert prompted, shown[-4000:]
    plan = shown[shown.index("Deploy myapp v1.2.3"):shown.index(PROMPT)]
    assert world.digest_of_tag("v1.2.3") in plan and "slot b beside live slot a" in plan, plan
    assert "traffic steps 10 -> 50 -> 100 %" in plan, plan
    assert rc == 2, shown[-4000:]
    assert 'not approved (answer "no", yes needed): nothing changed' in shown, shown[-4000:]
    assert "Green - new revision" not in shown and "Roll back" not in shown
    assert world.snapshot() == before   # weights, revisions, desired counts, task definitions, and no lock


def test_without_a_terminal_to_answer_on_nothing_is_deployed(world_at_rest):
    world = world_at_rest
    before = world.snapshot()
    result = world.deploy("v1.2.3", ecs_bg_require_approval=True)
    assert result.rc != 0
    assert "not approved" in json.dumps(result.failures()), result.failures()
    assert world.snapshot() == before


def test_a_lock_taken_over_while_the_prompt_waits_stops_the_run_after_yes_with_nothing_changed(world_at_rest):
    # The lock's TTL covers one step; an operator may answer later than that. Meanwhile another run may take the
    # expired lock and deploy into the slot this run's plan calls idle: a yes must not start green on that plan.
    world = world_at_rest
    before = world.snapshot()
    taken = {}

    def another_run_takes_the_lock():
        record = world.lock()
        assert record and record["execution_id"], record
        taken.update(record, execution_id="another-run-42", expires_at=int(time.time()) + 3600)
        world.ssm.put_parameter(Name=LOCK, Value=json.dumps(taken), Type="String", Overwrite=True)

    extra = dict(world.lab_vars(), ecs_validate_image_tag="v1.2.3", ecs_bg_require_approval=True)
    env = dict(os.environ, **AWS_ENV)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    rc, shown, prompted = run_on_terminal([str(PLAYBOOK), "-i", str(INVENTORY), "-e", json.dumps(extra)], env, "yes",
                                          on_prompt=another_run_takes_the_lock)

    assert prompted and taken, shown[-4000:]
    assert rc == 2, shown[-4000:]
    assert "another-run-42" in shown and "another run took it over" in shown, shown[-4000:]
    assert "Green - new revision" not in shown and "Roll back" not in shown
    after = world.snapshot()
    world.ssm.delete_parameter(Name=LOCK)                            # "another run" is this test: not left behind
    assert after["lock"]["execution_id"] == "another-run-42"          # left to its holder
    assert dict(after, lock=None) == before                          # weights, revisions, counts, task definitions

