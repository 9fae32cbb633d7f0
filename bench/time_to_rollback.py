"""Time to rollback (issue 8 item 2): the 5xx-prone release at the first step, in the lab, under traffic.

Each run deploys `v1.2.4-errors` (about 5 % HTTP 500 on /api/*, lab/catalogue.yml) with the lab inventory's schedule
(10 % first, `spending: pocock`) while the lab's traffic generator sends --rps requests/s through the production
listener (default 50 and 200: the lab's healthy-looking default and a rate at which the data can tell within 2 periods).
Measured per run:

- first candidate traffic: the first second in which the traffic record shows a response from the candidate's target
  group (the ALB data plane tags every response with X-Lab-Target-Group); also when the API first held a weight > 0
  for it (a poller reads the production listener every 0.25 s);
- back at 100 % live: when the poller first sees the listener at 100 % live again, and the last second a user
  request reached the candidate;
- time to rollback = back at 100 % (API) - first candidate traffic (data plane), in seconds and in metric periods
  (the lab publishes ALB metrics every LAB_METRIC_PERIOD = 5 s);
- the requests users saw fail (5xx or connection errors) from first candidate traffic to the end, and how many
  the candidate served.

    python bench/time_to_rollback.py [--runs N] [--rps R[,R...]] [--quick] [--keep-lab] [--update-readme]
"""
import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labbench  # noqa: E402
from labbench import config  # noqa: E402

TAG = "v1.2.4-errors"
TARGET_PERIODS = 2
# ecs_rollout_wait counts tasks of the candidate's revision that stopped up to 30 s before its wait began as failures
# of the new rollout; the same bad tag redeployed within that time after a rollback (this benchmark's next run) would
# fail there before any traffic. Runs are spaced by this much.
RUN_SPACING_S = 35


class WeightPoller:
    """Reads the production listener's weights every `interval` s; keeps (t, {slot: percent}) on every change."""

    def __init__(self, lab, interval=0.25, max_seconds=900):
        self.lab, self.interval, self.max_seconds = lab, interval, max_seconds
        self.changes = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        elbv2 = self.lab.client("elbv2")
        deadline = time.time() + self.max_seconds
        last = None
        while not self._stop.is_set() and time.time() < deadline:
            try:
                weights = self.lab.prod_weights(elbv2)
            except Exception:
                self.errors += 1
            else:
                if weights != last:
                    self.changes.append((time.time(), weights))
                    last = weights
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def one_run(lab, rps, workdir, index):
    from lab.traffic import TrafficGenerator, read_records
    if not lab.at_rest():
        lab.reset()
    live = lab.live_slot()
    candidate = [s for s in config.SLOTS if s != live][0]
    candidate_tg = "%s-%s" % (config.APP, candidate)
    traffic_file = Path(workdir) / ("traffic-%d.jsonl" % index)
    audit = Path(workdir) / ("audit-%d.jsonl" % index)
    traffic = TrafficGenerator(url=lab.prod_url, rps=rps, out=traffic_file, max_duration=900)
    poller = WeightPoller(lab)
    traffic.start()
    poller.start()
    time.sleep(3)   # live has a few seconds of metrics before the candidate starts
    started = time.time()
    load_before = labbench.load()
    result = labbench.run_playbook(labbench.ECS_PLAYBOOK, inventory=labbench.INVENTORY, timeout=900,
                                   extra_vars=dict(lab.lab_vars(), ecs_validate_image_tag=TAG),
                                   env={"ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit",
                                        "DEPLOYMENT_AUDIT_FILE": str(audit)})
    ended = time.time()
    time.sleep(2)
    poller.stop()
    traffic.stop()
    records = read_records(traffic_file)
    served = [r for r in records if r.get("by_target_group", {}).get(candidate_tg)]
    shifted_api = [t for t, w in poller.changes if w.get(candidate, 0) > 0]
    first_api_shift = shifted_api[0] if shifted_api else None
    back_api = [t for t, w in poller.changes if first_api_shift and t > first_api_shift and w.get(live) == 100]
    back = back_api[0] if back_api else None
    audit_records = [json.loads(x) for x in audit.read_text().splitlines() if x.strip()] if audit.exists() else []
    shifts = [r for r in audit_records if r.get("phase") == "shift"]
    run = {"run": index, "rc": result.rc, "started": started, "ended": ended, "playbook_seconds": round(ended - started, 1),
           "load_average_before": load_before, "load_average_after": labbench.load(), "rps": rps,
           "live_slot": live, "candidate_slot": candidate, "weight_changes": poller.changes,
           "poll_errors": poller.errors, "shift_decisions": [(r.get("step"), r.get("decision")) for r in shifts],
           "rolled_back": bool(back) and result.rc != 0}
    if not served or back is None:
        failures = result.failures()
        run["failures"] = failures[:3]
        run["error"] = ("the candidate got no production traffic" if not served
                        else "the listener was never back at 100 % live") + \
            (": %s failed: %s" % (failures[0][0].split(" : ")[-1], failures[0][2]) if failures else "")
        return run
    first_traffic = served[0]["t"]
    last_traffic = served[-1]["t"] + 1
    window = [r for r in records if r["t"] >= first_traffic]
    failed = sum(sum(n for s, n in r["status"].items() if s.startswith("5")) + r["conn_errors"] for r in window)
    sent = sum(r["sent"] for r in window)
    candidate_requests = sum(r["by_target_group"].get(candidate_tg, 0) for r in records)
    seconds = back - first_traffic
    failing = []
    for r in shifts:
        for m in r.get("metrics") or []:
            if m.get("verdict") == "fail":
                failing.append(m.get("name"))
    fail_records = [r for r in shifts if r.get("decision") == "fail"]
    # Where the time goes: every task that ran after the candidate first got traffic, relative to that moment.
    timeline = [(name, round(start - first_traffic, 1), round(end - first_traffic, 1))
                for name, _host, start, end, _res in labbench.task_timings(result)
                if start is not None and end is not None and end >= first_traffic]
    run.update({
        "timeline": timeline,
        "first_candidate_traffic": first_traffic,
        "first_weight_in_api": round(first_api_shift, 2),
        "back_at_100_live_api": round(back, 2),
        "last_candidate_traffic_second_end": last_traffic,
        "seconds_to_rollback": round(seconds, 1),
        "periods_to_rollback": round(seconds / lab.period, 2),
        "seconds_api_weight_to_back": round(back - first_api_shift, 1),
        "seconds_candidate_served": last_traffic - first_traffic,
        "decision_after_s": round(labbench.parse_iso(fail_records[0]["time"]) - first_traffic, 1) if fail_records else None,
        "failing_metrics": failing,
        "requests_since_first_candidate_traffic": sent,
        "failed_requests_seen": failed,
        "candidate_requests": candidate_requests,
        "failed_share": round(failed / sent, 5) if sent else None,
    })
    return run


def judged_at(run):
    """Seconds from first candidate traffic to the end of the step's comparison (the judge's decision), and to the
    start of the rollback's weight change, from the run's timeline."""
    compares = [end for name, _s, end in run.get("timeline", []) if "Compare candidate against live, watching" in name]
    rollback = [start for name, start, _e in run.get("timeline", []) if "Send all production traffic back" in name]
    return (compares[-1] if compares else None), (rollback[0] if rollback else None)


def summarize(runs, period):
    good = [r for r in runs if "seconds_to_rollback" in r]
    if not good:
        return {"runs": len(runs), "measured": 0, "rps": runs[0]["rps"] if runs else None}
    secs = sorted(r["seconds_to_rollback"] for r in good)
    median = statistics.median(secs)
    judged = [judged_at(r)[0] for r in good if judged_at(r)[0] is not None]
    return {"rps": good[0]["rps"], "runs": len(runs), "measured": len(good), "rolled_back": sum(r["rolled_back"] for r in good),
            "seconds_median": median, "seconds_min": secs[0], "seconds_max": secs[-1],
            "periods_median": round(median / period, 2), "periods_max": round(secs[-1] / period, 2),
            "judged_seconds_median": statistics.median(judged) if judged else None,
            "failed_requests": [r["failed_requests_seen"] for r in good],
            "candidate_requests": [r["candidate_requests"] for r in good],
            "within_target": sum(r["periods_to_rollback"] <= TARGET_PERIODS for r in good)}


def render_markdown(doc):
    meta, runs = doc["meta"], doc["runs"]
    out = ["Run %s on %s (%s cores, %s MB), %d run(s) of `%s` at the first step (10 %%, spending %s) under %s req/s "
           "through the production listener, metric period %d s; load average %s before, %s after the runs."
           % (meta["date"], meta["machine"]["cpu"], meta["machine"]["nproc"], meta["machine"]["mem_mb"], len(runs),
              TAG, meta.get("first_step_spending", "?"), " and ".join("%g" % r for r in meta["rates"]),
              meta["period"], meta["load_start"], meta["load_end"]), "",
           "| req/s | run | rolled back | first candidate traffic → 100 % live | periods | judge decided after | the rescue's "
           "rollback started after | candidate served | failed requests seen / sent | failing metric | playbook | "
           "load before |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if "seconds_to_rollback" not in r:
            out.append("| %g | %d | no measurement: %s | | | | | | | | %.0f s | %s |"
                       % (r["rps"], r["run"], r.get("error", "?")[:200], r["playbook_seconds"],
                          r["load_average_before"][0]))
            continue
        judged, rollback = judged_at(r)
        out.append("| %g | %d | %s | %.1f s | %.2f | %s s (%s periods) | %s s | %d s, %d requests | %d / %d | %s | "
                   "%.0f s | %.2f |"
                   % (r["rps"], r["run"], "yes" if r["rolled_back"] else "NO", r["seconds_to_rollback"], r["periods_to_rollback"],
                      judged, round(judged / meta["period"], 1) if judged is not None else "-", rollback,
                      r["seconds_candidate_served"], r["candidate_requests"],
                      r["failed_requests_seen"], r["requests_since_first_candidate_traffic"],
                      ", ".join(sorted(set(r["failing_metrics"]))) or "-", r["playbook_seconds"],
                      r["load_average_before"][0]))
    out.append("")
    for s in doc["summary"]:
        if not s.get("measured"):
            out.append("- %g req/s: no run measured." % s["rps"])
            continue
        verdict = "met" if s["periods_median"] <= TARGET_PERIODS else "missed"
        out.append("- **%g req/s: median %.1f s = %.2f periods** (min %.1f, max %.1f s), the judge's decision after a "
                   "median %s s, failed requests %s; %d of %d runs within %d periods: target **%s** at this rate."
                   % (s["rps"], s["seconds_median"], s["periods_median"], s["seconds_min"], s["seconds_max"],
                      s.get("judged_seconds_median"), " / ".join(str(n) for n in s["failed_requests"]),
                      s["within_target"], s["measured"], TARGET_PERIODS, verdict))
    return "\n".join(out)


def first_step_spending():
    """The first step's `spending` in the lab inventory (the role's default when it gives none)."""
    import yaml
    steps = yaml.safe_load((labbench.ROOT / "inventories/lab/group_vars/all/ecs.yml").read_text())["ecs_validate_steps"]
    return steps[0].get("spending", "obrien_fleming")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=None, help="deployments of the bad release (default 3; 1 with --quick)")
    p.add_argument("--rps", default="50,200",
                   help="traffic through the production listener, req/s; comma-separated for several (default 50,200)")
    p.add_argument("--quick", action="store_true", help="one run per rate")
    p.add_argument("--keep-lab", action="store_true", help="leave a lab started here running")
    p.add_argument("--update-readme", action="store_true")
    args = p.parse_args(argv)
    runs_wanted = args.runs or (1 if args.quick else 3)
    if not 1 <= runs_wanted <= 50:
        raise SystemExit("--runs must be within 1..50")
    try:
        rates = [float(x) for x in args.rps.split(",") if x.strip()]
    except ValueError:
        raise SystemExit("--rps takes numbers, e.g. 50,200")
    if not rates or any(not 10 <= r <= 400 for r in rates):
        raise SystemExit("--rps rates must be within 10..400 req/s")
    runs = []
    load_start = labbench.load()
    with labbench.LabSession(keep=args.keep_lab) as lab, tempfile.TemporaryDirectory(prefix="pd-bench-ttr-") as work:
        last_end = 0.0
        for rps in rates:
            for i in range(1, runs_wanted + 1):
                time.sleep(max(0.0, min(RUN_SPACING_S, last_end + RUN_SPACING_S - time.time())))
                run = one_run(lab, rps, work, i)
                last_end = time.time()
                runs.append(run)
                print("%g req/s, run %d: %s" % (rps, i, json.dumps(
                    {k: v for k, v in run.items() if k not in ("weight_changes", "timeline")}, default=str)))
        period = lab.period
    doc = {"meta": {"date": labbench.now_utc(), "machine": labbench.machine(), "rates": rates, "period": period,
                    "tag": TAG, "load_start": load_start, "load_end": labbench.load(),
                    "target_periods": TARGET_PERIODS, "first_step_spending": first_step_spending()},
           "runs": runs, "summary": [summarize([r for r in runs if r["rps"] == rps], period) for rps in rates]}
    labbench.publish("time_to_rollback", doc, render_markdown(doc), args.update_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
