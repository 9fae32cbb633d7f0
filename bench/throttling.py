"""Throttling survival (issue 14 item 2): the share of whole blue-green deployments that complete while the lab
throttles a given share of every AWS request the deployment makes.

Each run deploys a good release (v1.2.3, or v1.2.2 when v1.2.3 is live) with overhead.py's settings (every watch and
the hold at 0, the smoke test's p95 limit raised for a loaded machine) under light traffic, signed with the run's own
dummy key; the lab's fault settings (lab/faults.py) throttle that key's requests on every service at the rate under
test (the protocol's real error: `Throttling` for query APIs, `ThrottlingException` for JSON/CBOR ones), optionally
plus a share of 5xx (--errors). A run **completed** when the playbook ended rc 0 with the candidate at 100 % of the
production listener. Also recorded per run: wall time, the run's requests and how many were faulted, failed user
requests. A run that did not complete is followed by a lab reset.

    python bench/throttling.py [--rates 0.1,0.2,0.4] [--runs N (3)] [--errors 0.0] [--rps R (20)] [--quick]
                               [--keep-lab] [--update-readme]
"""
import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labbench  # noqa: E402
from overhead import ZERO_WATCH, live_tag  # noqa: E402

MAX_RUNS = 20


def set_faults(lab, doc):
    req = urllib.request.Request(lab.endpoint + "/lab-api/faults", data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode())


def one_run(lab, rate, errors, rps, workdir, index):
    from lab.traffic import TrafficGenerator, read_records, summarize
    if not lab.at_rest():
        lab.reset()
    tag = "v1.2.2" if live_tag(lab) == "v1.2.3" else "v1.2.3"
    key = "pdbenchthrottle%d%d%d" % (os.getpid(), int(rate * 100), index)
    traffic_out = Path(workdir) / ("traffic-%d-%d.jsonl" % (int(rate * 100), index))
    traffic = TrafficGenerator(url=lab.prod_url, rps=rps, out=traffic_out, max_duration=900) if rps > 0 else None
    if traffic:
        traffic.start()
        time.sleep(2)
    offset = lab.api_log_offset()
    load_before = labbench.load()
    set_faults(lab, {"services": {"*": {"throttle": rate, "error": errors}}, "keys": [key]})
    started = time.time()
    try:
        result = labbench.run_playbook(labbench.ECS_PLAYBOOK, inventory=labbench.INVENTORY, timeout=900,
                                       extra_vars=dict(lab.lab_vars(), ecs_validate_image_tag=tag,
                                                       aws_secret_key="pd-bench-throttle-secret-0123456789",
                                                       aws_session_token="", **labbench.run_vars(key), **ZERO_WATCH))
    finally:
        set_faults(lab, {})
    wall = time.time() - started
    failed_requests = None
    if traffic:
        traffic.stop()
        time.sleep(1.5)
        failed_requests = summarize(read_records(traffic_out), since=started)["failures"]
    time.sleep(0.5)
    calls = lab.api_calls(offset, started, started + wall, key=key)
    faulted = [c for c in calls if c.get("fault")]
    # completed: the run succeeded, and the slot taking 100 % of production traffic runs the tag deployed
    completed = result.rc == 0 and 100 in lab.prod_weights().values() and live_tag(lab) == tag
    run = {"rate": rate, "errors": errors, "run": index, "tag": tag, "rc": result.rc, "completed": completed,
           "wall_s": round(wall, 1), "requests": len(calls), "throttled": sum(1 for c in faulted if c["fault"] == "throttle"),
           "5xx": sum(1 for c in faulted if c["fault"] == "5xx"), "failed_user_requests": failed_requests,
           "load_average_before": load_before, "load_average_after": labbench.load(), "key": key,
           "failures": [(n, str(m)[:300]) for n, _h, m in result.failures()[:3]] if result.rc else []}
    if not completed:
        lab.reset()
    return run


def render_markdown(doc):
    meta, runs = doc["meta"], doc["runs"]
    out = ["Run %s on %s (%s cores, %s MB), %d run(s) per rate, %g req/s of traffic, every watch and the hold at 0, "
           "5xx share %g; load average %s at the start, %s at the end."
           % (meta["date"], meta["machine"]["cpu"], meta["machine"]["nproc"], meta["machine"]["mem_mb"], meta["runs"],
              meta["rps"], meta["errors"], meta["load_start"], meta["load_end"]), "",
           "| throttled share of every request | deployments completed | requests per run | of them throttled (5xx) "
           "| wall time per run | failed user requests |",
           "|---|---|---|---|---|---|"]
    for rate in meta["rates"]:
        rs = [r for r in runs if r["rate"] == rate]
        done = sum(1 for r in rs if r["completed"])
        out.append("| %d %% | **%d / %d** | %s | %s | %s | %s |" % (
            round(rate * 100), done, len(rs), " / ".join(str(r["requests"]) for r in rs),
            " / ".join("%d (%d)" % (r["throttled"], r["5xx"]) for r in rs),
            " / ".join("%.0f s" % r["wall_s"] for r in rs),
            " / ".join(str(r["failed_user_requests"]) for r in rs)))
    failed = [r for r in runs if not r["completed"]]
    if failed:
        out += ["", "Runs that did not complete:"] + ["- %d %% run %d: rc %s, %s" % (round(r["rate"] * 100), r["run"], r["rc"],
                                                                                     r["failures"]) for r in failed]
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="0.1,0.2,0.4", help="throttled shares to measure, comma-separated")
    p.add_argument("--runs", type=int, default=None, help="deployments per rate (default 3; 1 with --quick)")
    p.add_argument("--errors", type=float, default=0.0, help="share of 5xx on top (default 0)")
    p.add_argument("--rps", type=float, default=20.0, help="traffic during the run (0: none)")
    p.add_argument("--quick", action="store_true", help="one run at 20 %%")
    p.add_argument("--keep-lab", action="store_true", help="leave a lab started here running")
    p.add_argument("--update-readme", action="store_true")
    args = p.parse_args(argv)
    rates = [0.2] if args.quick else [float(x) for x in args.rates.split(",") if x.strip()]
    runs_wanted = args.runs or (1 if args.quick else 3)
    if not 1 <= runs_wanted <= MAX_RUNS:
        raise SystemExit("--runs must be within 1..%d" % MAX_RUNS)
    if not rates or any(not 0.0 <= r <= 0.9 for r in rates) or not 0.0 <= args.errors <= 0.1:
        raise SystemExit("--rates must be within 0..0.9 and --errors within 0..0.1")
    load_start = labbench.load()
    runs = []
    with labbench.LabSession(keep=args.keep_lab) as lab, tempfile.TemporaryDirectory(prefix="pd-bench-thr-") as work:
        for rate in rates:
            for i in range(1, runs_wanted + 1):
                run = one_run(lab, rate, args.errors, args.rps, work, i)
                runs.append(run)
                print("%d %% run %d (%s): %s, rc %s, %.0f s, %d requests, %d throttled, %d 5xx, failed user requests %s"
                      % (round(rate * 100), i, run["tag"], "completed" if run["completed"] else "NOT completed", run["rc"],
                         run["wall_s"], run["requests"], run["throttled"], run["5xx"], run["failed_user_requests"]),
                      flush=True)
    doc = {"meta": {"date": labbench.now_utc(), "machine": labbench.machine(), "rps": args.rps, "rates": rates,
                    "runs": runs_wanted, "errors": args.errors, "load_start": load_start, "load_end": labbench.load(),
                    "extra_vars": ZERO_WATCH},
           "runs": runs}
    labbench.publish("throttling", doc, render_markdown(doc), args.update_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
