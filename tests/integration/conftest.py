import os

import pytest
from aiosmtpd.controller import Controller

from ecs_e2e import LOCK
from harness import MotoServer, free_port
from receivers import Mailbox, Receiver

pytest_plugins = ["ecs_e2e"]   # the ECS end-to-end `world` fixture, shared by test_ecs_blue_green*.py


def _lab_settings_for_worker(env, worker):
    """LAB_* settings giving pytest-xdist worker `gwN` (N >= 1) a lab of its own beside gw0's.

    Derived from whatever base the environment sets (a private lab's, or the defaults), so several workers of several
    runs stay apart: ports +30 per worker, task addresses 127.(x+10N)., VM bridge/subnet/names/inventory and the state
    dir suffixed. gw0 keeps the base, so `pytest -n 1` and plain `pytest` use the same lab."""
    n = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    if n == 0:
        return {}
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = {"AWS_PORT": "4566", "PROD_PORT": "18080", "TEST_PORT": "19000", "VM_PORT": "18880",
            "STATE_DIR": os.path.join(repo, ".lab"), "TASK_IP_PREFIX": "127.1.", "VM_BRIDGE": "pdlab0",
            "VM_SUBNET": "10.213.0", "VM_PREFIX": "pdlab-vm"}
    base.update({k[4:]: v for k, v in env.items() if k.startswith("LAB_") and k[4:] in base})
    second = int(base["TASK_IP_PREFIX"].split(".")[1]) + 10 * n
    octets = base["VM_SUBNET"].split(".")
    state = "%s-gw%d" % (base["STATE_DIR"].rstrip("/"), n)
    return {
        "LAB_AWS_PORT": str(int(base["AWS_PORT"]) + 30 * n),
        "LAB_PROD_PORT": str(int(base["PROD_PORT"]) + 30 * n),
        "LAB_TEST_PORT": str(int(base["TEST_PORT"]) + 30 * n),
        "LAB_VM_PORT": str(int(base["VM_PORT"]) + 30 * n),
        "LAB_STATE_DIR": state,
        "LAB_TASK_IP_PREFIX": "127.%d." % second,
        "LAB_VM_BRIDGE": "%sw%d" % (base["VM_BRIDGE"][:6], n),
        "LAB_VM_SUBNET": "%s.%d.%s" % (octets[0], int(octets[1]) + n, octets[2]),
        "LAB_VM_PREFIX": "%sw%d-" % (base["VM_PREFIX"][:8], n),
        "LAB_VM_INVENTORY": os.path.join(state, "vm_hosts.yml"),
    }


# Set before anything imports lab.config (it reads the environment once).
os.environ.update(_lab_settings_for_worker(os.environ, os.environ.get("PYTEST_XDIST_WORKER", "")))
# The suites' labs publish CloudWatch as AWS does: no datapoint for a zero count, every period 1-2 periods late.
os.environ.setdefault("LAB_CW_SHAPE", "aws")


@pytest.fixture(scope="session")
def moto_server():
    """A bare moto server for module tests that need no lab data plane."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server):
    """The bare moto server, reset before the test."""
    moto_server.reset()
    return moto_server


# ---------------------------------------------------------------- the lab (lab/, `python -m lab up`)

class LabHandle:
    """The running lab: its AWS endpoint, boto3 clients, listener URLs and the daemon's own status."""

    def __init__(self, started_here):
        from lab import config
        self.config = config
        self.started_here = started_here
        self.endpoint = config.AWS_ENDPOINT
        self.region = config.REGION
        self.listener_urls = {api: "http://127.0.0.1:%d" % local for api, local in config.LISTENER_LOCAL_PORTS.items()}
        self.prod_url = self.listener_urls[config.PROD_LISTENER_PORT]
        self.test_url = self.listener_urls[config.TEST_LISTENER_PORT]
        self.vm_url = self.listener_urls[config.VM_LISTENER_PORT]
        self.state_dir = config.STATE_DIR

    def client(self, service):
        import boto3
        from botocore.config import Config
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=60))

    def status(self):
        from lab.__main__ import lab_api
        return lab_api("status")

    def iam_enforce(self, enforce=None):
        """Switch the lab's IAM enforcement for its deployer (default: the LAB_IAM_ENFORCE setting, on unless 0);
        returns the state the lab answers. The e2e suites call it so that they run as the deployer, enforced."""
        import json
        import urllib.request
        enforce = self.config.IAM_ENFORCE if enforce is None else enforce
        req = urllib.request.Request(self.endpoint + "/lab-api/iam-enforce", method="POST",
                                     data=json.dumps({"enforce": bool(enforce)}).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode())["iam_enforced"]

    def deployer_client(self, service):
        """A boto3 client signed with the lab deployer's keys (the lab inventory's), i.e. under the enforced policy."""
        import boto3
        from botocore.config import Config
        from lab.aws.iam_enforce import DEPLOYER_ACCESS_KEY, DEPLOYER_SECRET_KEY
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=DEPLOYER_ACCESS_KEY, aws_secret_access_key=DEPLOYER_SECRET_KEY,
                            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))

    def cli(self, *args, timeout=120):
        """Run `python -m lab ARGS` from the repo root; returns the CompletedProcess."""
        import subprocess
        import sys
        return subprocess.run([sys.executable, "-m", "lab"] + list(args), cwd=str(self.config.REPO),
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def lab():
    """The lab, brought up once per session (a running one is reused and left running).

    VM hosts are created only when LAB_TEST_VMS=1 (they need root); the ECS world always. The VM tests build
    their own fleet on the lab's bridge, so the suite doesn't need them."""
    import sys
    from pathlib import Path
    repo = str(Path(__file__).resolve().parents[2])
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from lab.__main__ import lab_api
    already = lab_api("status") is not None
    handle = LabHandle(started_here=not already)
    if not already:
        args = ["up"] + ([] if os.environ.get("LAB_TEST_VMS") == "1" else ["--no-vms"])
        proc = handle.cli(*args, timeout=180)
        assert proc.returncode == 0, "lab up failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    yield handle
    if handle.started_here:
        handle.cli("down", timeout=120)


@pytest.fixture
def receiver():
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def lab_world(lab):
    """The lab with the seeded world at rest (slot a live on myapp:1 with 100 %, slot b at 0 on myapp:1); reset if not.

    Slot b's revision counts: a test file that ran before on this worker may have left a rolled-back release (an image
    that never turns healthy) on it, and a test that scales b up would wait for it in vain. So does the app's deployment
    lock: a test may have left one held (the approval takeover test's "another run" once did, and test_lab_iam_enforce
    met it on the same worker)."""
    ecs, elbv2, ssm = lab.client("ecs"), lab.client("elbv2"), lab.client("ssm")
    try:
        held = ssm.get_parameters(Names=[LOCK, LOCK + ".claim"])["Parameters"]
        services = {s["serviceName"]: s for s in ecs.describe_services(
            cluster="prod-ecs-cluster", services=["myapp-a", "myapp-b"])["services"]}
        lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
        prod = next(x for x in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] if x["Port"] == 80)
        weights = {g["TargetGroupArn"].split("/")[-2]: g["Weight"]
                   for g in prod["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
        a, b = services["myapp-a"], services["myapp-b"]
        at_rest = (weights == {"myapp-a": 100, "myapp-b": 0} and a["taskDefinition"].endswith("/myapp:1")
                   and a["runningCount"] == a["desiredCount"] > 0 and len(a["deployments"]) == 1
                   and b["desiredCount"] == 0 and b["runningCount"] == 0 and b["taskDefinition"].endswith("/myapp:1")
                   and not held)
    except Exception:
        at_rest = False
    if not at_rest:
        proc = lab.cli("reset", timeout=240)
        assert proc.returncode == 0, "lab reset failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    return lab

