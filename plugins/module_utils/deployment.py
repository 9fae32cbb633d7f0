# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment record's step entries, and the decisions the roles take from them.

Pure functions, no Ansible or AWS. A traffic step is: shift -> judge (cw_compare, which applies the deployment
policy, module_utils/deploy_policy.py) -> act on the step's action -> record. The record is the one value the
summary, the notifications, the audit trail and the HTML report read (filters deployment_summary,
deployment_notification, deployment_report_html); the rescue reads `action` and `reason` from its last step.
"""

import json

from ansible_collections.progressive.delivery.plugins.module_utils import deploy_policy
from ansible_collections.progressive.delivery.plugins.module_utils import times

PLANNED = "planned"
CONTINUE = "continue"
NO_ANSWER = "nothing (no terminal)"


def settle_action(verdict, operator_answer=None, check_mode=False):
    """(action, reason) of a judged step: the policy's action, or for `ask` the operator's answer.

    `continue` (any case, spaces around) advances; any other answer, and no answer at all (no terminal: AWX, CI,
    cron), rolls back. In check mode nothing was judged: ('planned', '')."""
    if check_mode:
        return PLANNED, ""
    action = verdict.get("step_action") or deploy_policy.ROLLBACK
    reason = verdict.get("action_reason") or verdict.get("reason") or ""
    if action != deploy_policy.ASK:
        return action, reason
    answer = operator_answer if operator_answer is not None else NO_ANSWER
    if str(answer).strip().lower() == CONTINUE:
        action = deploy_policy.ADVANCE
    else:
        action = deploy_policy.ROLLBACK
    return action, "asked: %s; operator answered %s" % (reason, json.dumps(answer))


def step_record(step, verdict, question="", weights=None, shifted_at=None, operator_answer=None, check_mode=False):
    """The deployment record's entry for one traffic step.

    step: the step as planned (percent); verdict: cw_compare's result (empty in check mode); weights: the listener's
    weights after the shift; shifted_at: epoch seconds of the shift; operator_answer: what an operator typed when
    the policy asked (None: not asked, or nobody answered).

    `action_reason` says how the action was reached (an operator's answer included); `reason` is the policy's own
    words, the reason a rollback gives."""
    verdict = verdict or {}
    action, action_reason = settle_action(verdict, operator_answer, check_mode)
    return {
        "percent": int(step["percent"]),
        "question": question,
        "decision": PLANNED if check_mode else verdict.get("decision", ""),
        "action": action,
        "action_reason": action_reason,
        "reason": verdict.get("action_reason") or verdict.get("reason") or "",
        "summary": verdict.get("summary", ""),
        "metrics": verdict.get("metrics", []),
        "weights": weights or {},
        "shifted_at": times.iso(int(shifted_at)) if shifted_at else "",
        "decided_at": verdict.get("decided_at", ""),
        "score": verdict.get("score"),
        "looks": verdict.get("looks", 0),
        "holds": verdict.get("holds", 0),
        "early_exit": verdict.get("early_exit", False),
        "window": verdict.get("window", {}),
        "periods": verdict.get("periods", []),
    }


def rolled_back_step(steps):
    """The last step when it says roll back, else None: the rescue's reason comes from it, not from a task's message."""
    last = (steps or [{}])[-1] or {}
    return last if last.get("action") == deploy_policy.ROLLBACK else None


def failure_reason(steps, failed_message="", failed_task=""):
    """Why a deployment stopped: a step's own reason when the judge rolled it back, else the failed task's message."""
    step = rolled_back_step(steps)
    if step is not None:
        return step["reason"]
    return failed_message or ("task %s failed" % failed_task if failed_task else "a task failed")


def lock_renewal_due(expires_at, now, step_seconds, margin_seconds=60):
    """Whether the deployment lock must be renewed before a step that may take `step_seconds`: it would expire
    (less `margin_seconds`) before the step ends. An unknown expiry is always due."""
    try:
        expires = int(expires_at)
    except (TypeError, ValueError):
        return True
    return expires - margin_seconds <= int(now) + int(step_seconds)
