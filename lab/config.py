"""The lab's fixed layout: ports, names, address ranges. One place, read by every lab part.

Every value can be overridden by an environment variable of the same name prefixed LAB_
(e.g. LAB_AWS_PORT=4567), so two labs or a test and a dev lab can coexist.
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _env(name, default, cast=str):
    return cast(os.environ.get("LAB_" + name, default))


STATE_DIR = Path(_env("STATE_DIR", str(REPO / ".lab")))       # git-ignored: pids, logs, keys, traffic records

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"                                     # moto's default account
AWS_PORT = _env("AWS_PORT", 4566, int)                          # moto (extended) on loopback
AWS_ENDPOINT = "http://127.0.0.1:%d" % AWS_PORT

# The seeded world (issue 3 §6)
CLUSTER = "prod-ecs-cluster"
APP = "myapp"
SLOTS = ("a", "b")                                              # services myapp-a / myapp-b, target groups myapp-a / myapp-b
LIVE_SLOT = "a"
LIVE_TAG = "v1.2.2"
DESIRED_COUNT = _env("DESIRED_COUNT", 4, int)
CONTAINER_NAME = "myapp"
CONTAINER_PORT = 8080
ALB_NAME = "myapp-alb"

# World shapes (`python -m lab reset --shape NAME`): "slots" is the seeded slot layout above; "single" is the seed's
# own account (issue 17): one service behind one target group, a plain forward on the production listener and no
# test listener - the layout playbooks/ecs_adopt.yml turns into slots.
SHAPES = ("slots", "single")
SHAPE = _env("SHAPE", "slots")
SINGLE_SERVICE = "myapp-ecs-service"
SINGLE_TARGET_GROUP = "myapp-tg-blue"


def world_services(shape):
    """The ECS services a world of `shape` runs (the daemon is ready once each is steady)."""
    if shape == "single":
        return {SINGLE_SERVICE}
    return {"%s-%s" % (APP, slot) for slot in SLOTS}

# ALB listeners (port in the API) -> local port the data-plane proxy serves it on
PROD_LISTENER_PORT = 80
TEST_LISTENER_PORT = 9000
VM_LISTENER_PORT = 8080
LISTENER_LOCAL_PORTS = {
    PROD_LISTENER_PORT: _env("PROD_PORT", 18080, int),
    TEST_LISTENER_PORT: _env("TEST_PORT", 19000, int),
    VM_LISTENER_PORT: _env("VM_PORT", 18880, int),
}

# Listeners (API ports) the seed creates as HTTPS with the lab CA's certificate (lab/tls.py), e.g. "9000" or
# "80,9000"; the others are HTTP. Any listener turns HTTPS through the API (ModifyListener Protocol=HTTPS with a
# certificate ARN), as in AWS. The lab CA's certificate, for clients: STATE_DIR/tls/ca.pem.
TLS_LISTENERS = frozenset(int(p) for p in _env("TLS_LISTENERS", "").replace(",", " ").split())

# ECS tasks are local processes bound each to its own loopback address: 127.1.0.10, .11, ...
TASK_IP_PREFIX = _env("TASK_IP_PREFIX", "127.1.")

# Metrics: the ALB data plane and the task runner publish every METRIC_PERIOD seconds (LAB_METRIC_PERIOD=60 is
# AWS's own ALB / ECS period, for slow tests).
METRIC_PERIOD = _env("METRIC_PERIOD", 5, int)
# How CloudWatch data arrive (LAB_CW_SHAPE): "lab" - every count, zeros included, put as soon as its period ends;
# "aws" - as AWS publishes ALB metrics: no datapoint for a zero count, and every period put 1-2 periods after it
# ended (ECS CPU / memory late the same way). LAB_METRIC_DELAY_PERIODS ("N" or "N-M" whole periods, drawn per
# period) sets the delay alone; its default is "1-2" with the "aws" shape, "0" with "lab".
CW_SHAPE = _env("CW_SHAPE", "lab").strip().lower()
if CW_SHAPE not in ("lab", "aws"):
    raise ValueError("LAB_CW_SHAPE must be lab or aws, got %r" % CW_SHAPE)
METRIC_DELAY_PERIODS = _env("METRIC_DELAY_PERIODS", "1-2" if CW_SHAPE == "aws" else "0")

# VM hosts: network namespaces on a bridge, each with sshd and the app on APP port.
VM_COUNT = _env("VM_COUNT", 5, int)
VM_BRIDGE = _env("VM_BRIDGE", "pdlab0")
VM_SUBNET = _env("VM_SUBNET", "10.213.0")                         # bridge .1, hosts .11, .12, ...
VM_APP_PORT = 8080
VM_TARGET_GROUP = "myapp-vm"

CATALOGUE_FILE = REPO / "lab" / "catalogue.yml"

# Time scaling of the lab's target health checks: the checker waits HealthCheckIntervalSeconds x this
# between checks (the API keeps AWS's minimum of 5 s; the lab wants targets healthy within seconds).
HEALTH_CHECK_TIME_SCALE = _env("HEALTH_CHECK_TIME_SCALE", 0.3, float)

# VM host namespaces are named VM_PREFIX1..N; their inventory goes to VM_INVENTORY (a second lab, e.g. a
# test's, sets LAB_VM_BRIDGE / LAB_VM_SUBNET / LAB_VM_PREFIX / LAB_VM_INVENTORY to stay apart).
VM_PREFIX = _env("VM_PREFIX", "pdlab-vm")
VM_INVENTORY = Path(_env("VM_INVENTORY", str(REPO / "inventories" / "lab" / "vm_hosts.yml")))

# Faults on demand (lab/faults.py): a JSON document of throttle / 5xx / latency settings per AWS service, in force from
# the daemon's start (empty: none); `python -m lab faults` / POST /lab-api/faults change them on a running lab.
FAULTS = _env("FAULTS", "")

# IAM enforced for the lab deployer (lab/aws/iam_enforce.py): requests signed with the inventory's key
# (user progressive-deployer) are authorized against docs' policy rendered for inventories/lab. 0 turns it off.
IAM_ENFORCE = _env("IAM_ENFORCE", "1").strip().lower() not in ("0", "false", "no", "off", "")

# Eventual consistency (lab/aws/stale_reads.py): for this many seconds after ModifyListener / ModifyRule the API
# still answers the old actions. 0 (default): reads are fresh.
STALE_READ_SECONDS = _env("STALE_READ_SECONDS", 0.0, float)
