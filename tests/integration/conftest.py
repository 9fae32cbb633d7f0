import pytest
from aiosmtpd.controller import Controller

from harness import MotoServer, free_port
from receivers import Mailbox, Receiver


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

    def cli(self, *args, timeout=120):
        """Run `python -m lab ARGS` from the repo root; returns the CompletedProcess."""
        import subprocess
        import sys
        return subprocess.run([sys.executable, "-m", "lab"] + list(args), cwd=str(self.config.REPO),
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def lab():
    """The lab, brought up once per session (a running one is reused and left running).

    VM hosts are created only when LAB_TEST_VMS=1 (they need root); the ECS world always."""
    import os
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
    """The lab with the seeded world at rest (slot a live on myapp:1 with 100 %, slot b at 0); reset if not."""
    ecs, elbv2 = lab.client("ecs"), lab.client("elbv2")
    try:
        services = {s["serviceName"]: s for s in ecs.describe_services(
            cluster="prod-ecs-cluster", services=["myapp-a", "myapp-b"])["services"]}
        lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
        prod = next(x for x in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] if x["Port"] == 80)
        weights = {g["TargetGroupArn"].split("/")[-2]: g["Weight"]
                   for g in prod["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
        a, b = services["myapp-a"], services["myapp-b"]
        at_rest = (weights == {"myapp-a": 100, "myapp-b": 0} and a["taskDefinition"].endswith("/myapp:1")
                   and a["runningCount"] == a["desiredCount"] > 0 and len(a["deployments"]) == 1
                   and b["desiredCount"] == 0 and b["runningCount"] == 0)
    except Exception:
        at_rest = False
    if not at_rest:
        proc = lab.cli("reset", timeout=240)
        assert proc.returncode == 0, "lab reset failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    return lab
