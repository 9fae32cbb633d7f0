"""ecs-deploy side by side (issue 16): fabfuel's `ecs-deploy` rolling update vs our blue-green run, same lab, same traffic.

Each run starts from a freshly seeded lab world (`python -m lab reset`: myapp-a live on v1.2.2 with 4 tasks, myapp-b at
0), sends --rps requests/s (default 20, as overhead.py) through the production listener, and deploys v1.2.3 with one
of the two tools; the tools alternate (ecs-deploy, ours, ecs-deploy, ours, ...), --runs each.

- **ecs-deploy** (PyPI `ecs-deploy`, ECS_DEPLOY_VERSION, installed on demand into a bench-only venv, --ecs-deploy-venv,
  default bench/.venv-ecs-deploy, git-ignored): `ecs deploy prod-ecs-cluster myapp-a --image myapp <repo>@<digest of
  v1.2.3> --env myapp VERSION v1.2.3` (the seeded task definition's VERSION variable is what the app reports as its
  version; our role sets it to the new tag, so ecs-deploy gets the same change): it clones the live task definition
  with the new image, updates the LIVE service in place (ECS replaces the tasks under the service's maximumPercent
  200 / minimumHealthyPercent 100, the target group's health checks gating each new task), waits until the service
  has one deployment and that many RUNNING tasks of the new revision, then deregisters the previous revision (its
  defaults). It builds its clients with `boto3.session.Session(...)
  .client("ecs")`, no endpoint argument: botocore reads AWS_ENDPOINT_URL from the environment, which points it at the
  lab; its credentials come from the environment as well (AWS_ACCESS_KEY_ID: the run's own dummy key).
- **ours**: `playbooks/ecs_blue_green.yml` with image tag v1.2.3, every step's watch and the cleanup hold at 0
  (overhead.py's ZERO_WATCH): the same work overhead.py times.

Measured for both, on the same lab and traffic: wall time of the tool's process; the AWS API calls it made (the
lab's request log, the requests signed with the run's own dummy access key id) by service:operation; the controller
CPU-seconds (getrusage of the child processes); what the traffic saw from the tool's start to TAIL_S after it exited
(5xx, connection errors, p95 latency, when the new version first answered a user and the old one last did, the seconds
in which both answered); and whether the run ended healthy on the new image (at the tool's exit: the slot taking 100 %
of production runs the v1.2.3 digest with every desired task running, one deployment and as many healthy targets, and
the last seconds of traffic were answered by v1.2.3 alone, none failing after the exit). At the end one more
ecs-deploy run deploys the bad release v1.2.4-errors the same way (--no-bad-release skips it): what a rolling update
does with a release whose tasks pass their health checks and fail 5 % of the users' requests.

    python bench/ecs_deploy_compare.py [--runs N (2)] [--rps R (20)] [--quick] [--keep-lab] [--no-bad-release]
                                       [--ecs-deploy-venv PATH] [--update-readme]
"""
import argparse
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labbench  # noqa: E402
import overhead  # noqa: E402
from labbench import config  # noqa: E402

ECS_DEPLOY_VERSION = "1.17.0"
DEFAULT_VENV = labbench.ROOT / "bench" / ".venv-ecs-deploy"
OLD_TAG, NEW_TAG = config.LIVE_TAG, "v1.2.3"
BAD_TAG = "v1.2.4-errors"   # lab/catalogue.yml: about 5 % HTTP 500 on /api/* (the traffic's path); health checks pass
BAD_TAIL_S = 20.0       # traffic after ecs-deploy exits with the bad release live
TOOLS = ("ecs-deploy", "ours")
WARMUP_S = 3.0          # traffic before the tool starts (its seconds are checked for errors too)
TAIL_S = 6.0            # traffic after the tool exits: old tasks drain (the target groups' deregistration delay is 5 s)
END_SECONDS = 3         # the last seconds of traffic that must be answered by the new version alone
ECS_DEPLOY_TIMEOUT_S = 300


# ---------------------------------------------------------------- pure parts (tests/unit/bench/test_ecs_deploy_compare.py)

# Lines ecs-deploy prints when it fails: its failure message (and "Deployment Failed! <rollout reason>"), the service
# events it treats as errors ("ERROR: ..."), a botocore ClientError ("An error occurred (...)"), an EcsError's text.
ERROR_LINE = re.compile(r"^(deployment failed|error: |an error occurred|unknown task definition|traceback)", re.I)


def parse_ecs_deploy_output(text):
    """What `ecs deploy` said it did: the revision it created, the one it deregistered, its own duration, success."""
    def number(pattern):
        m = re.search(pattern, text)
        return int(m.group(1)) if m else None
    errors = [line.strip() for line in text.splitlines() if ERROR_LINE.match(line.strip())]
    return {"revision_created": number(r"Successfully created revision: (\d+)"),
            "revision_deregistered": number(r"Successfully deregistered revision: (\d+)"),
            "own_duration_s": number(r"Duration: (\d+) sec"),
            "succeeded": "Deployment successful" in text and not errors,
            "errors": errors[:5]}


def traffic_outcome(records, t0, t1, tail_end, old_version, new_version, end_seconds=END_SECONDS):
    """What users saw of one run, from the traffic generator's per-second records (lab/traffic.py).

    The window is the tool's run plus its tail, [floor(t0), floor(tail_end)); seconds before floor(t0) are the
    warm-up. Times are seconds after t0 (the tool's start); t1 is its exit."""
    from lab.traffic import summarize
    start, end = math.floor(t0), math.floor(tail_end)
    window = summarize(records, since=start, until=end)
    warmup = summarize(records, until=start)
    after_exit = summarize(records, since=math.floor(t1) + 1, until=end)
    rows = sorted((r for r in records if start <= r["t"] < end), key=lambda r: r["t"])
    new_secs = [r["t"] for r in rows if r["by_version"].get(new_version)]
    old_secs = [r["t"] for r in rows if r["by_version"].get(old_version)]
    both = [r["t"] for r in rows if r["by_version"].get(new_version) and r["by_version"].get(old_version)]
    last = rows[-end_seconds:] if rows else []
    answered_last = sum(sum(r["by_version"].values()) for r in last)
    new_last = sum(r["by_version"].get(new_version, 0) for r in last)
    totals = window["totals"]
    return {"sent": totals["sent"], "failed_5xx": totals["failed_5xx"], "conn_errors": totals["conn_errors"],
            "failed": window["failures"], "skipped": totals["skipped"],
            "failed_after_exit": after_exit["failures"], "failed_in_warmup": warmup["failures"],
            "by_version": window["by_version"], "latency_ms": window["latency_ms"],
            "first_new_s": round(new_secs[0] - t0, 1) if new_secs else None,
            "last_old_s": round(old_secs[-1] + 1 - t0, 1) if old_secs else None,
            "both_versions_s": len(both),
            "new_share_at_end": round(new_last / answered_last, 4) if answered_last else None,
            "failures_by_second": window["failures_by_second"][:20]}


def healthy_on_new(state, digest, traffic=None):
    """(verdict, reasons not healthy) of an end state (end_state()) and, when given, traffic_outcome()."""
    reasons = []
    live = [s for s, w in state["weights"].items() if w == 100]
    if len(live) != 1:
        reasons.append("no slot takes 100 %% of production (%s)" % state["weights"])
    else:
        svc = state["slots"][live[0]]
        if digest not in svc["image"]:
            reasons.append("the live slot runs %s" % svc["image"])
        if not svc["desired"] or svc["running"] != svc["desired"]:
            reasons.append("%s of %s tasks running" % (svc["running"], svc["desired"]))
        if svc["deployments"] != 1:
            reasons.append("%d deployments" % svc["deployments"])
        if svc["desired"] and svc["healthy_targets"] < svc["desired"]:
            reasons.append("%d healthy targets for %s tasks" % (svc["healthy_targets"], svc["desired"]))
    if traffic is not None and traffic.get("new_share_at_end") != 1.0:
        reasons.append("the last seconds' answers were %s new" % traffic.get("new_share_at_end"))
    if traffic is not None and traffic.get("failed_after_exit"):
        reasons.append("%d requests failed after the tool exited" % traffic["failed_after_exit"])
    return not reasons, reasons


def summarize_tool(runs):
    """Medians (min-max) over one tool's runs."""
    def spread(key, sub=None):
        values = [(r[sub][key] if sub else r[key]) for r in runs]
        values = [v for v in values if v is not None]
        if not values:
            return None
        return {"median": round(statistics.median(values), 1), "min": min(values), "max": max(values)}
    return {"runs": len(runs), "healthy": sum(1 for r in runs if r["healthy"]), "rc0": sum(1 for r in runs if r["rc"] == 0),
            "wall_s": spread("wall_s"), "api_calls": spread("api_calls_total"), "api_writes": spread("api_writes"),
            "cpu_s": spread("cpu_s"), "failed": spread("failed", "traffic"), "sent": spread("sent", "traffic"),
            "both_versions_s": spread("both_versions_s", "traffic"), "first_new_s": spread("first_new_s", "traffic"),
            "last_old_s": spread("last_old_s", "traffic")}


WRITE_PREFIXES = ("Create", "Delete", "Deregister", "Modify", "Put", "Register", "Tag", "Untag", "Update", "Set",
                  "Remove", "Add")


def writes(calls):
    """The calls of {service:Action: n} that change something."""
    return sum(n for call, n in calls.items() if call.split(":", 1)[1].startswith(WRITE_PREFIXES))


def calls_side_by_side(ecs_deploy_calls, our_calls):
    """[(call, ecs-deploy, ours)] ordered by the larger count, then name."""
    keys = set(ecs_deploy_calls) | set(our_calls)
    return [(c, ecs_deploy_calls.get(c, 0), our_calls.get(c, 0))
            for c in sorted(keys, key=lambda c: (-max(ecs_deploy_calls.get(c, 0), our_calls.get(c, 0)), c))]


def _fmt(spread, unit="", digits=1):
    if not spread:
        return "-"
    f = "%%.%df" % digits
    if spread["min"] == spread["max"]:
        return (f % spread["median"]) + unit
    return (f % spread["median"]) + unit + " (" + (f % spread["min"]) + "-" + (f % spread["max"]) + ")"


def bad_release_reading(run):
    """The sentence on ecs-deploy's run of the bad release (BAD_TAG)."""
    t = run["traffic"]
    return ("**The bad release, once with ecs-deploy** (`%s`: about 5 %% HTTP 500 on `/api/*`, health checks pass): exit "
            "%s (%s) after %.1f s; the new version answered users from +%s s and every request from +%s s; users saw "
            "**%d failed requests of %d**, %d of them in the %.0f s after ecs-deploy had exited, and the release stays "
            "live: nothing in ecs-deploy looks at what users get (its `--rollback` acts only on a failed ECS deployment, "
            "tasks that cannot be placed or started)."
            % (run["tag"], run["rc"], "\"Deployment successful\"" if run["detail"].get("succeeded") else "failed",
               run["wall_s"], t["first_new_s"], t["last_old_s"], t["failed"], t["sent"], t["failed_after_exit"],
               run["tail_s"]))


def loaded_note(doc):
    """A warning when the machine was busier than its cores during the runs."""
    loads = [doc["meta"]["load_start"][0], doc["meta"]["load_end"][0]] + [r["load_average_before"][0] for r in doc["runs"]]
    if max(loads) <= (doc["meta"]["machine"].get("nproc") or 1):
        return ""
    return (" (up to %.1f before a run on %s cores: the machine was shared with other work, so the times are upper "
            "bounds - ours, CPU-bound, far more than ecs-deploy's; the API calls do not depend on load)"
            % (max(loads), doc["meta"]["machine"].get("nproc")))


def render_markdown(doc):
    meta = doc["meta"]
    runs = [r for r in doc["runs"] if r.get("tag", NEW_TAG) == NEW_TAG]
    bad = [r for r in doc["runs"] if r.get("tag", NEW_TAG) != NEW_TAG]
    by = {t: [r for r in runs if r["tool"] == t] for t in TOOLS}
    s = {t: summarize_tool(by[t]) for t in TOOLS if by[t]}
    out = ["Run %s on %s (%s cores, %s MB), %d run(s) alternating, v%s -> %s on a freshly seeded lab each time, %g req/s "
           "through the production listener; load average %s at the start, %s at the end%s. ecs-deploy %s; ours with every "
           "watch and the hold at 0."
           % (meta["date"], meta["machine"]["cpu"], meta["machine"]["nproc"], meta["machine"]["mem_mb"], len(runs),
              OLD_TAG.lstrip("v"), NEW_TAG, meta["rps"], meta["load_start"], meta["load_end"], loaded_note(doc),
              meta["ecs_deploy_version"]),
           "",
           "| run | tool | exit | healthy on %s | wall time | AWS API calls (writes) | controller CPU | requests failed / sent "
           "(after exit) | p95 latency | new version first answers | old version last answers | seconds both answer | load before |"
           % NEW_TAG,
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        t = r["traffic"]
        out.append("| %d | %s | %s | %s | %.1f s | %d (%d) | %.1f s | %d / %d (%d) | %.0f ms | +%s s | +%s s | %d | %.2f |" % (
            r["run"], r["tool"], r["rc"], "yes" if r["healthy"] else "**no**: " + "; ".join(r["not_healthy"]),
            r["wall_s"], r["api_calls_total"], r["api_writes"], r["cpu_s"], t["failed"], t["sent"],
            t["failed_after_exit"], t["latency_ms"]["p95"], t["first_new_s"], t["last_old_s"], t["both_versions_s"],
            r["load_average_before"][0]))
    if len(s) == 2:
        e, o = s["ecs-deploy"], s["ours"]
        out += ["", "Medians (min-max): **ecs-deploy %s, %s API calls; ours %s, %s API calls** (%.1fx the time, %.1fx the "
                "calls); failed requests %s vs %s; controller CPU %s vs %s; ended healthy on %s in %d/%d vs %d/%d runs."
                % (_fmt(e["wall_s"], " s"), _fmt(e["api_calls"], digits=0), _fmt(o["wall_s"], " s"),
                   _fmt(o["api_calls"], digits=0), o["wall_s"]["median"] / max(e["wall_s"]["median"], 0.1),
                   o["api_calls"]["median"] / max(e["api_calls"]["median"], 1), _fmt(e["failed"], digits=0),
                   _fmt(o["failed"], digits=0), _fmt(e["cpu_s"], " s"), _fmt(o["cpu_s"], " s"), NEW_TAG,
                   e["healthy"], e["runs"], o["healthy"], o["runs"])]
        last_e, last_o = by["ecs-deploy"][-1], by["ours"][-1]
        rows = calls_side_by_side(last_e["api_calls"], last_o["api_calls"])
        out += ["", "AWS API calls of the last run of each (ecs-deploy run %d, ours run %d):" % (last_e["run"], last_o["run"]),
                "", "| call | ecs-deploy | ours |", "|---|---|---|"]
        out += ["| %s | %d | %d |" % row for row in rows]
        out.append("| **total** | **%d** | **%d** |" % (last_e["api_calls_total"], last_o["api_calls_total"]))
    for run in bad:
        out += ["", bad_release_reading(run)]
    return "\n".join(out)


# ---------------------------------------------------------------- the lab side

def ensure_ecs_deploy(venv, version=ECS_DEPLOY_VERSION):
    """The `ecs` command of a venv holding ecs-deploy `version`, created and installed when missing (pip, PyPI)."""
    venv = Path(venv)
    python, ecs = venv / "bin" / "python", venv / "bin" / "ecs"

    def installed():
        if not ecs.exists():
            return None
        proc = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('ecs-deploy'))"],
                              capture_output=True, text=True, timeout=60, check=False)
        return proc.stdout.strip() or None

    if installed() != version:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        print("installing ecs-deploy==%s into %s" % (version, venv))
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "ecs-deploy==%s" % version], check=True, timeout=600)
        if installed() != version:
            raise RuntimeError("ecs-deploy %s did not install into %s" % (version, venv))
    return str(ecs)


def image_ref(lab, tag):
    """(<repository uri>@<digest>, digest) of the app's image `tag`."""
    ecr = lab.client("ecr")
    digest = ecr.describe_images(repositoryName=config.APP, imageIds=[{"imageTag": tag}])["imageDetails"][0]["imageDigest"]
    uri = ecr.describe_repositories(repositoryNames=[config.APP])["repositories"][0]["repositoryUri"]
    return "%s@%s" % (uri, digest), digest


def end_state(lab):
    """Production weights and, per slot, its service's image, task counts, deployments and healthy targets."""
    ecs, elbv2 = lab.client("ecs"), lab.client("elbv2")
    names = ["%s-%s" % (config.APP, s) for s in config.SLOTS]
    services = {s["serviceName"]: s for s in ecs.describe_services(cluster=config.CLUSTER, services=names)["services"]}
    out = {"weights": lab.prod_weights(elbv2), "slots": {}}
    for slot, name in zip(config.SLOTS, names):
        svc = services[name]
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        health = elbv2.describe_target_health(TargetGroupArn=svc["loadBalancers"][0]["targetGroupArn"])
        primary = [d for d in svc["deployments"] if d["status"] == "PRIMARY"]
        out["slots"][slot] = {
            "service": name, "task_definition": svc["taskDefinition"].rsplit("/", 1)[1],
            "image": td["containerDefinitions"][0]["image"], "desired": svc["desiredCount"],
            "running": svc["runningCount"], "deployments": len(svc["deployments"]),
            "rollout": primary[0].get("rolloutState") if primary else None,
            "healthy_targets": sum(1 for t in health["TargetHealthDescriptions"]
                                   if t["TargetHealth"]["State"] == "healthy")}
    return out


def fresh_world(lab, timeout=90.0):
    """Reset the lab and wait until myapp is at rest on OLD_TAG with every live task a healthy target."""
    lab.reset()
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if lab.at_rest():
                state = end_state(lab)
                live = state["slots"][lab.live_slot()]
                if live["running"] == live["desired"] == live["healthy_targets"] and live["deployments"] == 1:
                    if overhead.live_tag(lab) != OLD_TAG:
                        raise RuntimeError("the seeded world runs %s, not %s" % (overhead.live_tag(lab), OLD_TAG))
                    return lab.live_slot()
        except (KeyError, IndexError):
            pass
        time.sleep(0.5)
    raise RuntimeError("the lab's world was not at rest %.0f s after a reset" % timeout)


def run_ecs_deploy(lab, ecs_bin, live_slot, image, tag, key):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_ENDPOINT_URL": lab.endpoint, "AWS_DEFAULT_REGION": config.REGION,
           "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}
    # The seeded task definition sets VERSION (what the app reports as X-App-Version, over the image's tag); our role
    # sets it to the new tag, so ecs-deploy is given the same change (--env).
    cmd = [ecs_bin, "deploy", config.CLUSTER, "%s-%s" % (config.APP, live_slot), "--image", config.CONTAINER_NAME, image,
           "--env", config.CONTAINER_NAME, "VERSION", tag, "--region", config.REGION,
           "--timeout", str(ECS_DEPLOY_TIMEOUT_S)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=ECS_DEPLOY_TIMEOUT_S + 120,
                              check=False)
        rc, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, text = "timeout", "".join(x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
                                      for x in (e.stdout, e.stderr))
    detail = parse_ecs_deploy_output(text)
    detail["command"] = " ".join(cmd[1:]).replace(lab.endpoint, "<lab>")
    detail["output_tail"] = text.strip().splitlines()[-8:]
    return rc, detail


def run_ours(lab, tag, key):
    result = labbench.run_playbook(labbench.ECS_PLAYBOOK, inventory=labbench.INVENTORY, timeout=900,
                                   extra_vars=dict(lab.lab_vars(), ecs_validate_image_tag=tag,
                                                   **labbench.run_vars(key), **overhead.ZERO_WATCH))
    timings = labbench.task_timings(result)
    return result.rc, {"phases": overhead.phases(timings), "tasks": len(timings),
                       "failures": result.failures()[:3] if result.rc else []}


def one_run(lab, tool, rps, workdir, index, ecs_bin, tag=NEW_TAG, tail_s=TAIL_S):
    from lab.traffic import TrafficGenerator, read_records
    live = fresh_world(lab)
    image, digest = image_ref(lab, tag)
    traffic_file = Path(workdir) / ("traffic-%d.jsonl" % index)
    traffic = TrafficGenerator(url=lab.prod_url, rps=rps, out=traffic_file, max_duration=900 + WARMUP_S + tail_s)
    traffic.start()
    try:
        time.sleep(WARMUP_S)
        offset = lab.api_log_offset()
        key = "pdbenchecsd%d%d%s" % (os.getpid(), index, "e" if tool == "ecs-deploy" else "o")
        load_before = labbench.load()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        if tool == "ecs-deploy":
            rc, detail = run_ecs_deploy(lab, ecs_bin, live, image, tag, key)
        else:
            rc, detail = run_ours(lab, tag, key)
        t1 = time.time()
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        state = end_state(lab)
        time.sleep(max(0.0, t1 + tail_s - time.time()))
    finally:
        traffic.stop()
    records = read_records(traffic_file)
    outcome = traffic_outcome(records, t0, t1, t1 + tail_s, OLD_TAG, tag)
    calls, total = labbench.count_calls(lab.api_calls(offset, t0, t1, key=key))
    healthy, reasons = healthy_on_new(state, digest, outcome)
    return {"run": index, "tool": tool, "tag": tag, "tail_s": tail_s, "rc": rc, "wall_s": round(t1 - t0, 1),
            "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
            "load_average_before": load_before, "load_average_after": labbench.load(),
            "api_calls": calls, "api_calls_total": total, "api_writes": writes(calls), "key": key,
            "traffic": outcome, "end_state": state, "healthy": healthy and rc == 0, "not_healthy": reasons,
            "detail": detail}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--runs", type=int, default=None, help="runs of each tool, alternating (default 2; 1 with --quick)")
    p.add_argument("--rps", type=float, default=20.0, help="traffic through the production listener (default 20)")
    p.add_argument("--quick", action="store_true", help="one run of each")
    p.add_argument("--keep-lab", action="store_true", help="leave a lab started here running")
    p.add_argument("--ecs-deploy-venv", default=str(DEFAULT_VENV), help="venv for ecs-deploy (created when missing)")
    p.add_argument("--no-bad-release", action="store_true",
                   help="skip the one ecs-deploy run of %s (the bad release) at the end" % BAD_TAG)
    p.add_argument("--update-readme", action="store_true")
    args = p.parse_args(argv)
    runs_wanted = args.runs or (1 if args.quick else 2)
    if not 1 <= runs_wanted <= 10:
        raise SystemExit("--runs must be within 1..10")
    if not 0 < args.rps <= 200:
        raise SystemExit("--rps must be within (0, 200]")
    ecs_bin = ensure_ecs_deploy(args.ecs_deploy_venv)
    load_start = labbench.load()
    runs = []
    with labbench.LabSession(keep=args.keep_lab) as lab, tempfile.TemporaryDirectory(prefix="pd-bench-ecsd-") as work:
        for i in range(runs_wanted):
            for tool in TOOLS:
                run = one_run(lab, tool, args.rps, work, len(runs) + 1, ecs_bin)
                runs.append(run)
                t = run["traffic"]
                print("run %d %s: rc %s, %.1f s, %d API calls, %d/%d requests failed, healthy %s%s"
                      % (run["run"], tool, run["rc"], run["wall_s"], run["api_calls_total"], t["failed"], t["sent"],
                         run["healthy"], "" if run["healthy"] else " (%s)" % "; ".join(run["not_healthy"])))
        if not args.no_bad_release:
            run = one_run(lab, "ecs-deploy", args.rps, work, len(runs) + 1, ecs_bin, tag=BAD_TAG, tail_s=BAD_TAIL_S)
            runs.append(run)
            print(bad_release_reading(run))
        lab.reset()     # the last run's world is left as the seed's, for whoever uses the lab next
    doc = {"meta": {"date": labbench.now_utc(), "machine": labbench.machine(), "rps": args.rps, "load_start": load_start,
                    "load_end": labbench.load(), "ecs_deploy_version": ECS_DEPLOY_VERSION, "old_tag": OLD_TAG,
                    "new_tag": NEW_TAG, "warmup_s": WARMUP_S, "tail_s": TAIL_S, "our_extra_vars": overhead.ZERO_WATCH},
           "summary": {t: summarize_tool([r for r in runs if r["tool"] == t and r["tag"] == NEW_TAG]) for t in TOOLS},
           "runs": runs}
    labbench.publish("ecs_deploy_compare", doc, render_markdown(doc), args.update_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
