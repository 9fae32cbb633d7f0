"""A deployment record as playbooks/ecs_blue_green.yml keeps it (ecs_bg_deployment with the traffic-shift results)
and its audit trail, for the deployment report's tests. `rolled_back=True` makes the 50 % step fail on error_rate."""

START = 1795000000  # 2026-11-18T11:06:40Z


def iso(epoch):
    import datetime
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def periods(start, count, live_err, cand_err, live_req, cand_req, live_lat, cand_lat, period=5):
    error_points, latency_points = [], []
    for i in range(count):
        when = iso(start + i * period)
        error_points.append({"time": when, "live": live_err / float(live_req), "candidate": cand_err / float(cand_req),
                             "live_events": float(live_err), "live_trials": float(live_req),
                             "candidate_events": float(cand_err), "candidate_trials": float(cand_req)})
        latency_points.append({"time": when, "live": live_lat + 0.001 * (i % 3), "candidate": cand_lat + 0.001 * (i % 2)})
    return [
        {"name": "error_rate", "kind": "proportion", "metric_name": "HTTPCode_Target_5XX_Count", "stat": "Sum",
         "direction": "higher_is_worse", "points": error_points},
        {"name": "latency_p95", "kind": "samples", "metric_name": "TargetResponseTime", "stat": "p95",
         "direction": "higher_is_worse", "points": latency_points},
    ]


def metrics(error_verdict, live_err, cand_err, p_value, mde):
    return [
        {"name": "error_rate", "kind": "proportion", "verdict": error_verdict, "live": live_err, "candidate": cand_err,
         "relative_change": cand_err / live_err - 1, "p_value": p_value, "level": 0.0025, "mde_ratio": mde,
         "tolerance": 0.25, "critical": True, "live_count": 9000, "candidate_count": 1000,
         "reason": "candidate 5xx rate %.2f %% vs live %.2f %%" % (cand_err * 100, live_err * 100)},
        {"name": "latency_p95", "kind": "samples", "verdict": "pass", "live": 0.051, "candidate": 0.052,
         "relative_change": 0.02, "p_value": 0.41, "level": 0.0025, "mde_ratio": 1.2, "tolerance": 0.25,
         "critical": True, "live_count": 8, "candidate_count": 8, "shift_ci": [-0.002, 0.004],
         "reason": "no significant increase"},
    ]


def step(percent, shifted, decided, decision, action, error_verdict, live_err, cand_err, p_value, mde, cand_req):
    return {
        "percent": percent, "decision": decision, "action": action,
        "reason": "critical metric failed: error_rate" if decision == "fail" else "all metrics pass",
        "summary": "%s at look 2/8" % decision, "score": 50.0 if decision == "fail" else 100.0, "looks": 2,
        "early_exit": decision == "fail", "shifted_at": iso(shifted), "decided_at": iso(decided),
        "window": {"start": iso(shifted), "end": iso(decided)},
        "weights": {"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/1": 100 - percent,
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-b/2": percent},
        "metrics": metrics(error_verdict, live_err, cand_err, p_value, mde),
        "periods": periods(shifted, 8, 2, int(cand_err * cand_req), 1000, cand_req, 0.05, 0.051),
    }


def deployment(rolled_back=False, service="myapp", image_tag="v1.2.3"):
    steps = [step(10, START + 40, START + 80, "pass", "proceed", "pass", 0.002, 0.002, 0.5, 3.1, 110)]
    trail = [
        {"phase": "validate", "decision": "deploy", "execution_id": "pd-1", "time": iso(START + 5)},
        {"phase": "green", "decision": "smoke-passed", "execution_id": "pd-1", "time": iso(START + 38),
         "task_definition": "myapp:7", "candidate_service": "myapp-b",
         "smoke": {"requests": 30, "errors": 0, "error_rate": 0.0, "p95_ms": 12.5}},
        {"phase": "shift", "decision": "pass", "action": "proceed", "percent": 10, "execution_id": "pd-1",
         "time": iso(START + 80)},
        # an older execution's record, as a long-lived fact cache could hold it
        {"phase": "rollback", "decision": "rolled-back", "execution_id": "pd-0", "time": iso(START - 900),
         "reason": "OLD-EXECUTION"},
    ]
    if rolled_back:
        steps.append(step(50, START + 81, START + 95, "fail", "fail", "fail", 0.002, 0.08, 1e-30, None, 900))
        trail += [
            {"phase": "shift", "decision": "fail", "action": "fail", "percent": 50, "execution_id": "pd-1",
             "time": iso(START + 95)},
            {"phase": "rollback", "decision": "rolled-back", "execution_id": "pd-1", "time": iso(START + 99),
             "reason": "candidate myapp-b failed the 50 % step", "candidate_kept": False},
        ]
        finished, reason = START + 100, "candidate myapp-b failed the 50 % step: critical metric failed: error_rate"
    else:
        steps += [step(50, START + 81, START + 101, "pass", "proceed", "pass", 0.002, 0.0021, 0.4, 1.8, 900),
                  step(100, START + 102, START + 117, "inconclusive", "proceed", "pass", 0.002, 0.002, 0.5, 1.5, 1800)]
        trail += [
            {"phase": "shift", "decision": "pass", "action": "proceed", "percent": 50, "execution_id": "pd-1",
             "time": iso(START + 101)},
            {"phase": "shift", "decision": "inconclusive", "action": "proceed", "percent": 100, "execution_id": "pd-1",
             "time": iso(START + 117)},
            {"phase": "cleanup", "decision": "old-slot-scaled-down", "old_service": "myapp-a", "execution_id": "pd-1",
             "time": iso(START + 124)},
        ]
        finished, reason = START + 125, ""
    record = {
        "execution_id": "pd-1", "pipeline": "myapp-lab", "service": service, "cluster": "prod-ecs-cluster",
        "environment": "lab", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@sha256:abc",
        "image_tag": image_tag, "digest": "sha256:abc", "task_definition": "myapp:7", "strategy": "blue-green 10/50/100",
        "desired_count": 2, "started_at": iso(START), "finished_at": iso(finished), "duration_seconds": finished - START,
        "live_slot": "a", "candidate_slot": "b", "steps": steps, "reason": reason,
    }
    return record, trail
