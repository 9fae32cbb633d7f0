"""deploy_policy: every verdict x policy x step position, schedule validation, the plan of looks."""
import itertools

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import deploy_policy as dp

VERDICTS = ("pass", "fail", "inconclusive", "nodata")
POSITIONS = {"early": {"percent": 10, "index": 0, "count": 3},
             "gate": {"percent": 50, "index": 1, "count": 3},
             "last": {"percent": 100, "index": 2, "count": 3}}


def verdict(critical_verdicts, decision=None, noncritical="inconclusive"):
    metrics = [{"name": "m%d" % i, "critical": True, "verdict": v, "evidence": "e%d" % i}
               for i, v in enumerate(critical_verdicts)]
    metrics.append({"name": "cpu", "critical": False, "verdict": noncritical, "evidence": "x"})
    if decision is None:
        if "fail" in critical_verdicts:
            decision = "fail"
        elif all(v == "pass" for v in critical_verdicts):
            decision = "pass"
        else:
            decision = "inconclusive"
    return {"decision": decision, "reason": "r", "metrics": metrics}


def expected(position, v, policy, holds):
    """The policy, written out once more as a table, independently of the code's structure."""
    if v["decision"] == "fail":
        return "rollback"
    if position in ("early", "last"):
        return "advance"
    if all(m["verdict"] == "pass" for m in v["metrics"] if m["critical"]):
        return "advance"
    rule = policy["inconclusive"]
    if rule == "extend":
        if holds < policy["max_extensions"]:
            return "hold"
        rule = policy["fallback"]
    return {"pause": "ask", "proceed": "advance", "rollback": "rollback"}[rule]


POLICIES = [dict(inconclusive=i, fallback=f, max_extensions=m)
            for i in dp.INCONCLUSIVE_RULES for f in dp.FALLBACKS for m in (0, 1, 2)]
VERDICT_SETS = [verdict(list(c)) for c in itertools.product(VERDICTS, repeat=2)]


@pytest.mark.parametrize("position", sorted(POSITIONS))
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: "%(inconclusive)s-%(fallback)s-%(max_extensions)d" % p)
def test_every_verdict_policy_and_position(position, policy):
    step = POSITIONS[position]
    for v in VERDICT_SETS:
        for holds in range(0, 4):
            history = [{"percent": step["percent"], "action": "hold"}] * holds + [{"percent": 10, "action": "hold"}]
            got = dp.step_action(v, step, policy, history)
            want = expected(position, v, policy, holds)
            assert got["action"] == want, (position, policy, v, holds, got)
            assert got["question"] == dp.QUESTIONS[position] and got["position"] == position
            # Every action says what it rests on: each metric's verdict and evidence.
            assert all("%s %s (%s)" % (m["name"], m["verdict"], m["evidence"]) in got["reason"] for m in v["metrics"])


def test_positions_of_short_and_long_schedules():
    assert dp.step_position({"percent": 100, "index": 0, "count": 1}) == "last"
    assert dp.step_position({"percent": 50, "index": 0, "count": 2}) == "gate"
    assert [dp.step_position({"percent": p, "index": i, "count": 5}) for i, p in enumerate([1, 5, 25, 50, 100])] == \
        ["early", "early", "early", "gate", "last"]


def test_a_noncritical_failure_alone_does_not_roll_back_but_the_judges_fail_does():
    v = verdict(["pass", "pass"], noncritical="fail")
    assert dp.step_action(v, POSITIONS["gate"], {}, [])["action"] == "advance"
    v = verdict(["pass", "pass"], decision="fail", noncritical="fail")  # the score fell below marginal
    assert dp.step_action(v, POSITIONS["early"], {}, [])["action"] == "rollback"


def test_no_critical_metric_at_all_needs_the_judges_pass():
    v = {"decision": "inconclusive", "reason": "no metric reached a conclusion",
         "metrics": [{"name": "cpu", "critical": False, "verdict": "inconclusive"}]}
    assert dp.step_action(v, POSITIONS["gate"], {"inconclusive": "rollback"}, [])["action"] == "rollback"
    v["decision"] = "pass"
    assert dp.step_action(v, POSITIONS["gate"], {"inconclusive": "rollback"}, [])["action"] == "advance"


def test_defaults_and_bad_policies():
    policy, errors = dp.validate_policy({})
    assert errors == [] and policy == {"inconclusive": "extend", "max_extensions": 1, "fallback": "rollback"}
    _, errors = dp.validate_policy({"inconclusive": "wait", "fallback": "maybe", "max_extensions": 11})
    assert len(errors) == 3 and "inconclusive policy must be one of extend, pause, proceed, rollback" in errors[0]
    with pytest.raises(ValueError, match="fallback"):
        dp.step_action(verdict(["pass"]), POSITIONS["gate"], {"fallback": "maybe"}, [])


@pytest.mark.parametrize("steps, fragment", [
    ([], "non-empty list"),
    ("10,50,100", "non-empty list"),
    ([{"percent": 10.5, "watch_seconds": 60}, {"percent": 100, "watch_seconds": 60}], "[0].percent must be a whole number"),
    ([{"percent": "ten", "watch_seconds": 60}], "[0].percent must be a whole number"),
    ([{"percent": 0, "watch_seconds": 60}, {"percent": 100, "watch_seconds": 60}], "[0].percent must be a whole number"),
    ([{"percent": 101, "watch_seconds": 60}], "within 1-100"),
    ([{"percent": True, "watch_seconds": 60}], "[0].percent must be a whole number"),
    ([{"percent": 100, "watch_seconds": "soon"}], "[0].watch_seconds must be a whole number of seconds"),
    ([{"percent": 100, "watch_seconds": -1}], "watch_seconds must be a whole number of seconds within 0-86400"),
    ([{"percent": 100, "watch_seconds": 86401}], "within 0-86400"),
    ([{"percent": 100}], "watch_seconds must be"),
    ([{"percent": 50, "watch_seconds": 60}, {"percent": 10, "watch_seconds": 60}, {"percent": 100, "watch_seconds": 1}],
     "must rise strictly"),
    ([{"percent": 50, "watch_seconds": 60}, {"percent": 50, "watch_seconds": 60}, {"percent": 100, "watch_seconds": 1}],
     "must rise strictly"),
    ([{"percent": 10, "watch_seconds": 60}, {"percent": 50, "watch_seconds": 60}], "must end at 100 percent"),
    ([{"percent": 100, "watch_seconds": 60, "spending": "fast"}], "[0].spending must be one of"),
    ([{"percent": 100, "watch_seconds": 60, "bake": 3}], "[0]: unknown key(s) bake"),
    (["10"], "[0] must be a dict"),
])
def test_bad_schedules_are_refused_naming_the_step_and_field(steps, fragment):
    normalized, errors = dp.validate_schedule(steps)
    assert normalized == [] and any(fragment in e for e in errors), errors


def test_good_schedules_come_back_as_whole_numbers():
    steps, errors = dp.validate_schedule([{"percent": "10", "watch_seconds": "300", "spending": "pocock"},
                                          {"percent": 50.0, "watch_seconds": 600}, {"percent": 100, "watch_seconds": 0}])
    assert errors == []
    assert steps == [{"percent": 10, "watch_seconds": 300, "spending": "pocock"},
                     {"percent": 50, "watch_seconds": 600}, {"percent": 100, "watch_seconds": 0}]


SEED = [{"percent": 10, "watch_seconds": 300}, {"percent": 50, "watch_seconds": 600}, {"percent": 100, "watch_seconds": 1800}]


def test_the_plan_numbers_looks_over_the_whole_deployment():
    plan = dp.shift_plan(SEED, 0, period=60, delay=60, max_extensions=1, extension_seconds=600)
    todo = plan["todo"]
    assert [s["position"] for s in todo] == ["early", "gate", "last"]
    assert [s["planned_looks"] for s in todo] == [5, 20, 30]  # the gate plans its longer watch too
    assert [s["look_offset"] for s in todo] == [0, 5, 25] and plan["total_looks"] == 55
    assert [(s["index"], s["count"]) for s in todo] == [(0, 3), (1, 3), (2, 3)]


def test_a_rerun_resumes_at_the_step_it_stopped_in():
    assert [s["percent"] for s in dp.shift_plan(SEED, 50)["todo"]] == [50, 100]
    assert [s["percent"] for s in dp.shift_plan(SEED, 30)["todo"]] == [50, 100]
    assert [s["percent"] for s in dp.shift_plan(SEED, 100)["todo"]] == [100]
    resumed = dp.shift_plan(SEED, 50)["todo"][0]
    assert resumed["index"] == 1 and resumed["position"] == "gate"  # the same question as in the first run
    with pytest.raises(ValueError, match="must end at 100"):
        dp.shift_plan([{"percent": 10, "watch_seconds": 1}])
