"""The deployment record's step entries and the decisions taken from them (module_utils/deployment.py)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import deployment

VERDICT = {"decision": "pass", "step_action": "advance", "action_reason": "no harm detected", "summary": "3 metrics",
           "metrics": [{"metric": "5xx", "verdict": "pass"}], "decided_at": "2026-12-02T10:01:00Z", "score": 97.5,
           "looks": 2, "holds": 0, "early_exit": False, "window": {"start": "a", "end": "b"}, "periods": [1]}


def test_a_policy_action_is_kept_with_its_reason():
    record = deployment.step_record({"percent": "50"}, VERDICT, "shown no worse than live?", {"tg-a": 50, "tg-b": 50},
                                    1764669600)
    assert record["percent"] == 50 and record["action"] == "advance" and record["reason"] == "no harm detected"
    assert record["action_reason"] == "no harm detected" and record["question"] == "shown no worse than live?"
    assert record["shifted_at"] == "2025-12-02T10:00:00Z" and record["weights"] == {"tg-a": 50, "tg-b": 50}
    assert record["metrics"] == VERDICT["metrics"] and record["looks"] == 2 and record["score"] == 97.5


@pytest.mark.parametrize("answer, action", [("continue", "advance"), ("  Continue ", "advance"), ("no", "rollback"),
                                            ("", "rollback"), (None, "rollback")])
def test_an_asked_step_goes_on_only_when_the_operator_says_continue(answer, action):
    verdict = dict(VERDICT, step_action="ask", action_reason="inconclusive at the gate")
    record = deployment.step_record({"percent": 50}, verdict, operator_answer=answer)
    assert record["action"] == action
    said = '"nothing (no terminal)"' if answer is None else '"%s"' % answer
    assert record["action_reason"] == "asked: inconclusive at the gate; operator answered " + said
    assert record["reason"] == "inconclusive at the gate"  # the policy's own words, for a rollback's message


def test_check_mode_plans_and_judges_nothing():
    record = deployment.step_record({"percent": 10}, {}, "q", check_mode=True)
    assert record["action"] == record["decision"] == "planned" and record["action_reason"] == "" == record["shifted_at"]


def test_a_verdict_without_an_action_rolls_back():
    assert deployment.settle_action({"decision": "fail", "reason": "5xx up"}) == ("rollback", "5xx up")


def test_the_rescue_takes_a_rolled_back_steps_reason_else_the_failed_task():
    steps = [{"action": "advance", "reason": "fine"}, {"action": "rollback", "reason": "p99 latency worse"}]
    assert deployment.failure_reason(steps, "candidate at 50 %: ...") == "p99 latency worse"
    assert deployment.failure_reason(steps[:1], "smoke test failed") == "smoke test failed"
    assert deployment.failure_reason([], "", "Wait for the candidate") == "task Wait for the candidate failed"
    assert deployment.failure_reason(None) == "a task failed"


@pytest.mark.parametrize("expires_at, now, step, due", [
    (2000, 1000, 600, False),      # ends 1000 s from now, the step needs 600 + 60 margin
    (2000, 1000, 940, True),       # 940 + 60 reaches the expiry
    (None, 1000, 0, True),         # unknown expiry: renew
    ("garbled", 1000, 0, True),
    ("2000", "1000", "100", False),
])
def test_the_lock_is_renewed_only_when_it_would_end_during_the_step(expires_at, now, step, due):
    assert deployment.lock_renewal_due(expires_at, now, step) is due
