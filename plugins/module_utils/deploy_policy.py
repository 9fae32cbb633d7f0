# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment-level policy: what each traffic step asks, and what to do with the judge's answer.

Pure functions, no Ansible or AWS. cw_compare calls `step_action` after each watch; the traffic-shift
role acts on the action it returns; ecs_validate calls `validate_schedule` before anything is changed.

Each step asks its own question (DESIGN §3 "Saying yes honestly"):
  early steps (before the gate)  "no harm detected so far?"  advance unless the judge says fail
  the gate (the step before 100 %)  "shown no worse than live?"  every critical metric must pass,
                                   on evidence pooled over every step of this candidate; otherwise
                                   the policy's `inconclusive` rule (hold = watch longer, ask, proceed,
                                   rollback) and, once the holds are used up, its `fallback`
  the last step (100 %)          "holding against live's pre-deployment baseline and the SLOs?"
                                   advance unless the judge says fail
A failure rolls back at any step. `ask` is for people at a terminal: unattended runs (AWX, CI) never
reach it unless the policy names it, and the role rolls back when nobody answers.
"""

ADVANCE = "advance"
HOLD = "hold"
ASK = "ask"
ROLLBACK = "rollback"
ACTIONS = (ADVANCE, HOLD, ASK, ROLLBACK)

EARLY = "early"
GATE = "gate"
LAST = "last"
QUESTIONS = {
    EARLY: "no harm detected so far?",
    GATE: "shown no worse than live?",
    LAST: "holding against live's pre-deployment baseline and the SLOs?",
}

# What to do at the gate when a critical metric has no pass yet.
INCONCLUSIVE_RULES = ("extend", "pause", "proceed", "rollback")
FALLBACKS = ("proceed", "rollback", "pause")
SPENDING_FUNCTIONS = ("obrien_fleming", "pocock", "bonferroni")
STEP_KEYS = ("percent", "watch_seconds", "spending")
MAX_WATCH_SECONDS = 86400

POLICY_DEFAULTS = {
    "inconclusive": "extend",     # at the gate, without a pass on every critical metric
    "max_extensions": 1,          # holds at the gate before the fallback applies
    "fallback": "rollback",       # after the holds: rollback, proceed, or pause (ask)
}


def _is_int(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        return value.strip().isdigit()
    return False


def validate_schedule(steps):
    """(normalized steps, errors) of a traffic schedule: a list of {percent, watch_seconds[, spending]}.

    Percents are whole numbers within 1-100, strictly rising, ending at 100; watch_seconds a whole
    number within 0-86400; spending one of the spending functions. Every error names the step and
    the field. Strings of digits (as `-e` gives them) are accepted; 10.5 or "soon" are not."""
    errors = []
    if not isinstance(steps, (list, tuple)) or not steps:
        return [], ["ecs_validate_steps must be a non-empty list of steps such as "
                    "[{percent: 10, watch_seconds: 300}, {percent: 100, watch_seconds: 1800}], got %r" % (steps,)]
    out = []
    for i, step in enumerate(steps):
        label = "ecs_validate_steps[%d]" % i
        if not isinstance(step, dict):
            errors.append("%s must be a dict with percent and watch_seconds, got %r" % (label, step))
            continue
        unknown = sorted(set(step) - set(STEP_KEYS))
        if unknown:
            errors.append("%s: unknown key(s) %s; allowed: %s"
                          % (label, ", ".join(map(str, unknown)), ", ".join(STEP_KEYS)))
        percent, watch = step.get("percent"), step.get("watch_seconds")
        if not _is_int(percent) or not 1 <= int(percent) <= 100:
            errors.append("%s.percent must be a whole number within 1-100, got %r" % (label, percent))
            percent = None
        if not _is_int(watch) or not 0 <= int(watch) <= MAX_WATCH_SECONDS:
            errors.append("%s.watch_seconds must be a whole number of seconds within 0-%d, got %r"
                          % (label, MAX_WATCH_SECONDS, watch))
            watch = None
        clean = {"percent": int(percent) if percent is not None else None,
                 "watch_seconds": int(watch) if watch is not None else None}
        if "spending" in step:
            if step["spending"] not in SPENDING_FUNCTIONS:
                errors.append("%s.spending must be one of %s, got %r" % (label, ", ".join(SPENDING_FUNCTIONS),
                                                                         step["spending"]))
            clean["spending"] = step["spending"]
        out.append(clean)
    percents = [s["percent"] for s in out if s.get("percent") is not None]
    if len(percents) == len(out) and not errors:
        if percents != sorted(set(percents)):
            errors.append("ecs_validate_steps percents must rise strictly, got %s" % percents)
        if percents[-1] != 100:
            errors.append("ecs_validate_steps must end at 100 percent, got %s" % percents)
    return (out if not errors else []), errors


def validate_policy(policy):
    """(policy with defaults, errors)."""
    merged = dict(POLICY_DEFAULTS)
    merged.update(dict((k, v) for k, v in (policy or {}).items() if v is not None))
    errors = []
    if merged["inconclusive"] not in INCONCLUSIVE_RULES:
        errors.append("inconclusive policy must be one of %s, got %r" % (", ".join(INCONCLUSIVE_RULES),
                                                                         merged["inconclusive"]))
    if merged["fallback"] not in FALLBACKS:
        errors.append("inconclusive fallback must be one of %s, got %r" % (", ".join(FALLBACKS), merged["fallback"]))
    if not _is_int(merged["max_extensions"]) or not 0 <= int(merged["max_extensions"]) <= 10:
        errors.append("max_extensions must be a whole number within 0-10, got %r" % (merged["max_extensions"],))
    else:
        merged["max_extensions"] = int(merged["max_extensions"])
    return merged, errors


def step_position(step):
    """early, gate or last, from the step's percent, its index and the schedule's length."""
    if int(step["percent"]) >= 100 or int(step["index"]) >= int(step["count"]) - 1:
        return LAST
    if int(step["index"]) == int(step["count"]) - 2:
        return GATE
    return EARLY


def _critical(verdict):
    return [m for m in verdict.get("metrics", []) if m.get("critical", True)]


def _rests_on(verdict):
    return "; ".join("%s %s (%s)" % (m["name"], m.get("verdict"), m.get("evidence") or m.get("reason", ""))
                     for m in verdict.get("metrics", []))


def step_action(verdict, step, policy, history):
    """What to do after a watch: {action, reason, question, position}.

    verdict  cw_compare's outcome for the step: decision and metrics [{name, critical, verdict, evidence}]
    step     {percent, index, count} (index 0-based within the whole schedule)
    policy   validate_policy()'s dict
    history  earlier actions of this candidate [{percent, action}], this step's holds among them
    """
    policy, errors = validate_policy(policy)
    if errors:
        raise ValueError("; ".join(errors))
    position = step_position(step)
    question = QUESTIONS[position]
    decision = verdict.get("decision")
    rests = _rests_on(verdict)

    def act(action, why):
        return {"action": action, "reason": "%s - %s" % (why, rests) if rests else why,
                "question": question, "position": position}

    if decision == "fail":
        return act(ROLLBACK, "the candidate is worse: %s" % verdict.get("reason", "failed"))
    if position in (EARLY, LAST):
        if decision == "pass":
            return act(ADVANCE, "no harm detected, and every critical metric passed")
        return act(ADVANCE, "no harm detected (%s)" % verdict.get("reason", decision))
    critical = _critical(verdict)
    missing = [m["name"] for m in critical if m.get("verdict") != "pass"]
    if critical and not missing:
        return act(ADVANCE, "shown no worse than live on every critical metric")
    if not critical and decision == "pass":
        return act(ADVANCE, "shown no worse than live")
    why = "not yet shown no worse than live: %s" % ", ".join(missing or [verdict.get("reason", decision)])
    rule = policy["inconclusive"]
    holds = sum(1 for h in history or [] if h.get("action") == HOLD and int(h.get("percent", -1)) == int(step["percent"]))
    if rule == "extend":
        if holds < policy["max_extensions"]:
            return act(HOLD, "%s; watching longer (%d of %d)" % (why, holds + 1, policy["max_extensions"]))
        rule = policy["fallback"]
        why = "%s after %d longer watch%s" % (why, holds, "" if holds == 1 else "es")
    if rule == "pause":
        return act(ASK, "%s; asking an operator" % why)
    if rule == "proceed":
        return act(ADVANCE, "%s; proceeding as the policy says, without that proof" % why)
    return act(ROLLBACK, "%s; rolling back as the policy says" % why)


def shift_plan(steps, current_percent=0, period=60, delay=0, max_extensions=0, extension_seconds=0):
    """The steps still to do and how the false-fail budget is numbered over the whole deployment.

    A rerun resumes at the step it stopped in (the step equal to the candidate's current percent is
    watched again, its bake may have been cut short). Each step gets index and count (its place in the
    whole schedule, which decides its question) and look_offset: the looks planned before it, so a
    step's looks continue the deployment's alpha spending. total_looks counts every planned look,
    the gate's possible longer watches included."""
    from ansible_collections.progressive.delivery.plugins.module_utils.canary_watch import look_times
    steps, errors = validate_schedule(steps)
    if errors:
        raise ValueError("; ".join(errors))
    count = len(steps)
    offset = 0
    planned = []
    for index, step in enumerate(steps):
        entry = dict(step, index=index, count=count, look_offset=offset)
        position = step_position(entry)
        looks = len(look_times(0, max(step["watch_seconds"], period), period, delay))
        if position == GATE and max_extensions:
            looks += max_extensions * len(look_times(0, max(extension_seconds or step["watch_seconds"], period),
                                                     period, delay))
        entry["position"] = position
        entry["planned_looks"] = looks
        offset += looks
        planned.append(entry)
    current = int(current_percent or 0)
    todo = [s for s in planned if current <= 0 or s["percent"] >= current]
    return {"todo": todo, "total_looks": max(1, offset), "steps": planned}
