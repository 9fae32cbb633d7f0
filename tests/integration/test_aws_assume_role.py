"""aws_assume_role against a bare moto STS: assumed once, again only when the session would end before the work that
follows it (aws_assume_role_needed_seconds), and refused when no session of aws_assume_role_duration could cover it."""
from harness import localhost_play, run_playbook

ROLE = "arn:aws:iam::123456789012:role/myapp-deployer"
WORKING = "Working as the assumed role"


def include(name, **vars):
    return {"name": name, "ansible.builtin.include_role": {"name": "progressive.delivery.aws_assume_role"},
            "vars": vars}


def test_assumed_again_only_when_the_session_would_end_during_the_next_work(moto):
    role = dict(aws_assume_role_arn=ROLE, aws_assume_role_duration=1200, aws_assume_role_refresh_seconds=60)
    # 300 s of the session left, as if the run had gone on for a while.
    age = {"name": "Age the session", "ansible.builtin.set_fact": {
        "aws_assume_role_expires_epoch": "{{ now(fmt='%s') | int + 300 }}"}}
    play = localhost_play([
        include("first"),
        include("nothing to renew for short work", aws_assume_role_needed_seconds=100),
        age,
        include("300 s left cover 200 s of work", aws_assume_role_needed_seconds=200),
        include("300 s left do not cover 400 s of work", aws_assume_role_needed_seconds=400),
        age,
        {"name": "Too long for any session", "block": [include("too long", aws_assume_role_needed_seconds=1150)],
         "rescue": [{"name": "Refused", "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}}]},
    ], moto.url, vars=role)
    result = run_playbook(play)
    assert result.rc == 0, result
    working = [r for n, h, r in result.tasks() if n.endswith(WORKING) and r.get("msg")]
    assert len(working) == 2, [n for n, h, r in result.tasks()]   # the first include and the 400 s one
    refused = result.task("Refused")["msg"]
    assert "1150 s the next piece of work may take in one go" in refused and "raise aws_assume_role_duration" in refused
