"""What the lab benchmarks share (time_to_rollback.py, overhead.py, scale.py); no __main__, so `make bench` skips it.

The lab is the one `LAB_*` in the environment selects (lab/config.py): a running one is reused and left running, a
missing one is brought up here and taken down at the end (`LabSession`). Playbooks run through the integration
harness's `run_playbook` (ansible-playbook with the repo's ansible.cfg, results from the ansible.posix.json callback,
which carries each task's start and end). The bench's own AWS calls carry the user agent suffix `pd-bench`, and the
lab's data plane's `lab-alb`, so the API counts below are the playbook's alone.
"""
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
for _p in (str(ROOT), str(ROOT / "tests" / "integration")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from lab import config  # noqa: E402  (reads LAB_* once)

BENCH_UA = "pd-bench"
NOT_THE_TOOL = ("lab-alb", BENCH_UA, "lab-traffic")
INVENTORY = ROOT / "inventories" / "lab"
ECS_PLAYBOOK = ROOT / "playbooks" / "ecs_blue_green.yml"


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def machine():
    """judge_accuracy's description of the machine (one for every benchmark), with its memory."""
    from judge_accuracy import machine as judge_machine
    info = judge_machine()
    try:
        with open("/proc/meminfo") as f:
            info["mem_mb"] = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        info["mem_mb"] = None
    return info


def load():
    return [round(x, 2) for x in os.getloadavg()]


def lab_cli(*args, timeout=180):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-m", "lab"] + list(args), cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=timeout)


class LabSession:
    """The lab for one benchmark: reused when up, else started (ECS world only) and stopped at the end."""

    def __init__(self, keep=False):
        self.keep = keep
        self.started_here = False
        self.endpoint = config.AWS_ENDPOINT
        self.prod_url = "http://127.0.0.1:%d" % config.LISTENER_LOCAL_PORTS[config.PROD_LISTENER_PORT]
        self.test_url = "http://127.0.0.1:%d" % config.LISTENER_LOCAL_PORTS[config.TEST_LISTENER_PORT]
        self.state_dir = Path(config.STATE_DIR)
        self.period = config.METRIC_PERIOD

    def __enter__(self):
        from lab.__main__ import lab_api
        if lab_api("status") is None:
            proc = lab_cli("up", "--no-vms", timeout=240)
            if proc.returncode != 0:
                raise RuntimeError("lab up failed:\n%s\n%s" % (proc.stdout, proc.stderr))
            self.started_here = True
        return self

    def __exit__(self, *exc):
        if self.started_here and not self.keep:
            lab_cli("down", timeout=120)

    def reset(self):
        proc = lab_cli("reset", timeout=240)
        if proc.returncode != 0:
            raise RuntimeError("lab reset failed:\n%s\n%s" % (proc.stdout, proc.stderr))

    def client(self, service):
        import boto3
        from botocore.config import Config
        return boto3.client(service, endpoint_url=self.endpoint, region_name=config.REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=60,
                                          user_agent_extra=BENCH_UA))

    def lab_vars(self):
        return {"aws_endpoint_url": self.endpoint, "ecs_green_deploy_smoke_base_url": self.test_url}

    # ---- the seeded app's state
    def prod_weights(self, elbv2=None, app=None, port=None):
        """{slot: percent} of the production listener of `app` (default the seeded one)."""
        elbv2 = elbv2 or self.client("elbv2")
        app = app or config.APP
        port = port or config.PROD_LISTENER_PORT
        lb = elbv2.describe_load_balancers(Names=["%s-alb" % app])["LoadBalancers"][0]
        listener = [x for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
                    if x["Port"] == port][0]
        groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        total = sum(g["Weight"] for g in groups) or 1
        return {g["TargetGroupArn"].split("/")[1].rsplit("-", 1)[1]: round(100.0 * g["Weight"] / total)
                for g in groups}

    def at_rest(self):
        """True when one slot takes 100 %, the other slot's service is at 0 and no lock is held."""
        weights = self.prod_weights()
        live = [s for s, w in weights.items() if w == 100]
        if not live:
            return False
        idle = [s for s in config.SLOTS if s != live[0]][0]
        svc = self.client("ecs").describe_services(cluster=config.CLUSTER, services=["%s-%s" % (config.APP, idle)])
        if svc["services"][0]["desiredCount"] != 0:
            return False
        ssm = self.client("ssm")
        try:
            ssm.get_parameter(Name="/progressive-delivery/locks/%s/%s" % (config.CLUSTER, config.APP))
            return False
        except ssm.exceptions.ParameterNotFound:
            return True

    def live_slot(self):
        return [s for s, w in self.prod_weights().items() if w == 100][0]

    # ---- the request log
    def api_log_offset(self):
        path = self.state_dir / "api-requests.jsonl"
        return path.stat().st_size if path.exists() else 0

    def api_calls(self, since_offset, t0=None, t1=None, key=None):
        """The tool's AWS requests logged after `since_offset` bytes (within [t0, t1] when given; only those signed
        with access key id `key` when given, see run_vars)."""
        path = self.state_dir / "api-requests.jsonl"
        out = []
        with path.open() as f:
            f.seek(since_offset)
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if any(tag in rec.get("ua", "") for tag in NOT_THE_TOOL):
                    continue
                if (t0 is not None and rec["t"] < t0) or (t1 is not None and rec["t"] > t1):
                    continue
                if key and rec.get("key") != key:
                    continue
                out.append(rec)
        return out


def run_vars(key):
    """Extra vars giving a playbook run its own dummy access key id: the lab logs each request's key, so the run's
    calls are told from everyone else's on the same lab (other runs, the lab's data plane). (The user agent cannot
    carry a tag: AnsibleAWSModule sets its own, dropping botocore's AWS_SDK_UA_APP_ID.)

    A dummy key is no IAM user of the lab's, so the IAM preflight simulates the lab's deployer instead (the user the
    shipped policy is attached to), as a run with the inventory's keys would."""
    return {"aws_access_key": key, "ecs_validate_iam_principal": "arn:aws:iam::123456789012:user/progressive-deployer"}


def count_calls(records):
    """{"service:Action": n} sorted by count, and the total."""
    counts = {}
    for rec in records:
        key = "%s:%s" % (rec["service"], rec["action"])
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), sum(counts.values())


def parse_iso(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def task_timings(result):
    """[(task name, host, start epoch, end epoch, result)] of a harness PlaybookResult, in run order."""
    out = []
    for play in (result.data or {}).get("plays", []):
        for task in play.get("tasks", []):
            dur = task["task"].get("duration") or {}
            start = parse_iso(dur["start"]) if dur.get("start") else None
            end = parse_iso(dur["end"]) if dur.get("end") else None
            for host, res in task.get("hosts", {}).items():
                out.append((task["task"]["name"], host, start, end, res))
    return out


def unpack_ref(ref, into):
    """The collection as it is at git `ref`, unpacked (git archive) as a collection tree under `into`; returns
    (collections root, checkout) - for a benchmark's "before" beside this checkout's "after"."""
    checkout = Path(into) / "ansible_collections" / "progressive" / "delivery"
    checkout.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], capture_output=True,
                             timeout=60, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True, timeout=60)
    return Path(into), checkout


def collection_env(collections_root, checkout):
    """The environment that makes ansible-playbook run the collection unpacked at `checkout`."""
    return {"ANSIBLE_CONFIG": str(Path(checkout) / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(collections_root),
            "ANSIBLE_ROLES_PATH": str(Path(checkout) / "roles")}


def run_playbook(*args, **kwargs):
    from harness import run_playbook as _run
    return _run(*args, **kwargs)


def publish(name, doc, markdown, update_readme=False):
    """Print a benchmark's figures, write bench/results/<name>.json and, when asked, its README section <name>."""
    print("\n" + markdown)
    path = write_json(name + ".json", doc)
    print("wrote %s" % os.path.relpath(path, os.getcwd()))
    if update_readme:
        update_readme_section(name, markdown)


def write_json(name, doc):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(doc, indent=1, default=str))
    return path


def update_readme_section(marker, markdown):
    readme = ROOT / "bench" / "README.md"
    begin, end = "<!-- %s:begin -->" % marker, "<!-- %s:end -->" % marker
    text = readme.read_text()
    if begin not in text or end not in text:
        print("bench/README.md has no %s ... %s markers; not updated" % (begin, end), file=sys.stderr)
        return
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + begin + "\n" + markdown + "\n" + end + tail)
