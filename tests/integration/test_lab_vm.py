"""The lab's VM hosts: namespace "machines" with sshd, own hostname and /srv, the app behind the ALB data plane.

The fleet here uses its own bridge, subnet and names (not the lab's pdlab0 / 10.213.0.x), so it can run beside
a developer's lab.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from harness import REPO, VENV_BIN, MotoServer, free_port
from lab import alb as lab_alb
from lab import vmhosts
from test_lab_dataplane import http_get, many

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path(vmhosts.SSHD).exists() or not shutil.which("ip"),
                                reason="VM hosts need root, iproute2 and openssh-server")

N = 5


def ansible_adhoc(inventory, pattern, module, args=None, extra=(), env_extra=None):
    """Run `ansible` ad hoc with the repo's ansible.cfg; {host: result} from the one-line output, and the proc."""
    cmd = [str(VENV_BIN / "ansible"), "-i", str(inventory), pattern, "-m", module, "-o"] + list(extra)
    if args:
        cmd += ["-a", args]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    env.pop("ANSIBLE_HOST_KEY_CHECKING", None)
    env.update(env_extra or {})
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120)
    results = {}
    for line in proc.stdout.splitlines():
        if " | " in line:
            host, rest = line.split(" | ", 1)
            results[host.strip()] = (re.match(r"[A-Z!]+", rest.strip()).group(0), line)
    return results, proc


def rc_of(line):
    """The rc of an `ansible -o` command result line (CHANGED: `rc=N`, FAILED: JSON with "rc": N)."""
    if " => " in line:
        return json.loads(line.split(" => ", 1)[1])["rc"]
    return int(line.split("rc=", 1)[1].split()[0])


def create_alb(moto):
    ec2, elbv2 = moto.client("ec2"), moto.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone="us-east-1" + az)
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    return elbv2.create_load_balancer(Name="myapp-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]


@pytest.fixture(scope="module")
def vm_moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fleet(vm_moto, tmp_path_factory):
    state = tmp_path_factory.mktemp("vmlab")
    create_alb(vm_moto)
    f = vmhosts.VmFleet(state_dir=state, bridge="pdlt0", subnet="10.213.200", prefix="pdlt-vm",
                        inventory=state / "vm_hosts.yml", endpoint=vm_moto.url)
    t0 = time.monotonic()
    hosts = f.create(N)
    f.create_seconds = time.monotonic() - t0
    f.hosts = hosts
    yield f
    f.destroy()


def test_five_hosts_up_in_a_few_seconds(fleet):
    assert fleet.create_seconds < 10, fleet.create_seconds
    assert [h["name"] for h in fleet.hosts] == ["pdlt-vm%d" % i for i in range(1, N + 1)]
    assert [h["address"] for h in fleet.hosts] == ["10.213.200.%d" % (10 + i) for i in range(1, N + 1)]
    for h in fleet.list():
        assert h["sshd_running"] and h["app_pid"] and h["current_release"] == "v1.2.2"


def test_inventory_keeps_host_key_checking_on(fleet):
    inv = yaml.safe_load(fleet.inventory.read_text())
    group = inv["all"]["children"]["vm_hosts"]
    assert group["hosts"]["pdlt-vm1"] == {"ansible_host": "10.213.200.11"}
    assert group["vars"]["ansible_user"] == "root"
    assert "StrictHostKeyChecking=yes" in group["vars"]["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=%s" % fleet.known_hosts in group["vars"]["ansible_ssh_common_args"]
    known = fleet.known_hosts.read_text().split("\n")
    assert [line.split()[0] for line in known if line] == [h["address"] for h in fleet.hosts]


def test_ansible_ping_over_ssh_with_host_key_checking(fleet, tmp_path):
    results, proc = ansible_adhoc(fleet.inventory, "vm_hosts", "ansible.builtin.ping")
    assert {h: s for h, (s, _) in results.items()} == {h["name"]: "SUCCESS" for h in fleet.hosts}, proc.stdout

    # the same inventory against an empty known_hosts file is refused: checking is really on
    (tmp_path / "empty_known_hosts").write_text("")
    text = fleet.inventory.read_text().replace(str(fleet.known_hosts), str(tmp_path / "empty_known_hosts"))
    (tmp_path / "inv.yml").write_text(text)
    # (no ControlMaster: a persisted master connection from the ping above would skip the key exchange)
    results, proc = ansible_adhoc(tmp_path / "inv.yml", "pdlt-vm1", "ansible.builtin.ping",
                                  env_extra={"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"})
    assert results["pdlt-vm1"][0] == "UNREACHABLE!", proc.stdout
    assert "Host key verification failed" in proc.stdout + proc.stderr


def test_password_login_is_refused(fleet):
    proc = subprocess.run(["ssh", "-o", "UserKnownHostsFile=%s" % fleet.known_hosts, "-o", "BatchMode=yes",
                           "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "ConnectTimeout=5",
                           "root@10.213.200.11", "true"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 255 and "Permission denied" in proc.stderr


def test_each_host_has_its_own_hostname_and_private_srv(fleet):
    results, proc = ansible_adhoc(fleet.inventory, "vm_hosts", "ansible.builtin.command", "hostname")
    for h in fleet.hosts:
        assert results[h["name"]][1].endswith("(stdout) %s" % h["name"]), proc.stdout
    results, proc = ansible_adhoc(fleet.inventory, "vm_hosts", "ansible.builtin.copy",
                                  "content={{ inventory_hostname }} dest=/srv/owner")
    assert all(s == "CHANGED" for s, _ in results.values()) and len(results) == N, proc.stdout
    assert not Path("/srv/owner").exists()          # the machine's own /srv is untouched
    for h in fleet.hosts:
        assert (Path(h["srv"]) / "owner").read_text() == h["name"]
    results, _ = ansible_adhoc(fleet.inventory, "vm_hosts", "ansible.builtin.command", "cat /srv/owner")
    for h in fleet.hosts:
        assert results[h["name"]][1].endswith("(stdout) %s" % h["name"])


def test_release_layout_and_command_unit_over_ssh(fleet):
    results, proc = ansible_adhoc(fleet.inventory, "pdlt-vm2", "ansible.builtin.command", "readlink /srv/myapp/current")
    assert results["pdlt-vm2"][1].endswith("(stdout) /srv/myapp/releases/v1.2.2"), proc.stdout
    app = "http://10.213.200.12:8080"
    assert http_get(app + "/health")[0] == 200
    results, proc = ansible_adhoc(fleet.inventory, "pdlt-vm2", "ansible.builtin.command", "/srv/myapp/current/bin/stop")
    assert results["pdlt-vm2"][0] == "CHANGED", proc.stdout
    with pytest.raises(OSError):
        http_get(app + "/health", timeout=2)
    results, _ = ansible_adhoc(fleet.inventory, "pdlt-vm2", "ansible.builtin.command", "/srv/myapp/current/bin/status")
    assert rc_of(results["pdlt-vm2"][1]) == 3
    results, proc = ansible_adhoc(fleet.inventory, "pdlt-vm2", "ansible.builtin.command",
                                  "/srv/myapp/current/bin/start")
    assert results["pdlt-vm2"][0] == "CHANGED", proc.stdout
    status, headers, body = http_get(app + "/api/v1/status")
    assert (status, headers["X-App-Version"], json.loads(body)["hostname"]) == (200, "v1.2.2", "pdlt-vm2")
    results, _ = ansible_adhoc(fleet.inventory, "pdlt-vm2", "ansible.builtin.command", "/srv/myapp/current/bin/status")
    assert rc_of(results["pdlt-vm2"][1]) == 0 and "releases/v1.2.2" in results["pdlt-vm2"][1]


def test_app_answers_through_the_vm_listener(fleet, vm_moto):
    elbv2 = vm_moto.client("elbv2")
    tg = elbv2.describe_target_groups(Names=["myapp-vm"])["TargetGroups"][0]
    assert (tg["HealthCheckPath"], tg["Port"], tg["TargetType"]) == ("/health", 8080, "ip")
    registered = sorted(d["Target"]["Id"] for d in
                        elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"])
    assert registered == [h["address"] for h in fleet.hosts]
    lb_arn = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert [(listener["Port"], listener["DefaultActions"][0]["TargetGroupArn"]) for listener in listeners] == [
        (8080, tg["TargetGroupArn"])]
    # idempotent: a second ensure creates nothing new
    assert fleet.ensure_target_group() == tg["TargetGroupArn"]
    assert len(elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]) == 1

    plane = lab_alb.AlbDataPlane(endpoint=vm_moto.url, alb_name="myapp-alb", listener_ports={8080: free_port()},
                                 publish=False).start()
    try:
        results = many(plane.url(8080) + "/api/v1/status", 25, workers=4)
    finally:
        plane.stop()
    assert [(s, h.get("X-Lab-Target-Group")) for s, _, h in results] == [(200, "myapp-vm")] * 25
    assert all(h["X-App-Version"] == "v1.2.2" for _, _, h in results)


def test_artifacts_for_every_catalogue_version_with_sha256_sidecars(fleet, tmp_path):
    catalogue = vmhosts.load_catalogue()
    for version in catalogue:
        path = fleet.artifacts_dir / ("myapp-%s.tar.gz" % version)
        digest, name = (fleet.artifacts_dir / (path.name + ".sha256")).read_text().split()
        assert name == path.name and digest == hashlib.sha256(path.read_bytes()).hexdigest()
        with tarfile.open(path) as tar:
            assert sorted(tar.getnames()) == ["VERSION", "app.py", "behaviour.json", "bin", "bin/start",
                                              "bin/status", "bin/stop"]
            behaviour = json.load(tar.extractfile("behaviour.json"))
            assert tar.extractfile("VERSION").read().decode().strip() == version
        assert behaviour["health"] == catalogue[version]["health"]
        assert behaviour["error_rate"] == catalogue[version]["error_rate"]
    # deterministic: rebuilding gives the same bytes (a rerun of the same version is a no-op for checksums)
    again = vmhosts.build_artifacts(tmp_path, catalogue)
    for version, (path, digest) in again.items():
        assert (fleet.artifacts_dir / path.name).read_bytes() == path.read_bytes()


def test_destroy_leaves_no_namespace_bridge_veth_process_or_mount(vm_moto, tmp_path):
    f = vmhosts.VmFleet(state_dir=tmp_path, bridge="pdlu0", subnet="10.213.201", prefix="pdlu-vm",
                        inventory=tmp_path / "vm_hosts.yml", endpoint=vm_moto.url, target_group="myapp-vm-2",
                        listener_port=8081)
    hosts = f.create(2)
    pids = [h["sshd_pid"] for h in hosts] + [h["app_pid"] for h in hosts]
    assert all(pids) and f.inventory.exists()
    elbv2 = vm_moto.client("elbv2")
    tg_arn = elbv2.describe_target_groups(Names=["myapp-vm-2"])["TargetGroups"][0]["TargetGroupArn"]
    assert len(elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]) == 2

    assert f.destroy() == ["pdlu-vm1", "pdlu-vm2"]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "pdlu-vm" not in netns
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert "pdlu0" not in links
    for pid in pids:
        assert not Path("/proc/%d" % pid).exists() or vmhosts._zombie(pid)
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps
    mounts = Path("/proc/mounts").read_text() + Path("/proc/self/mountinfo").read_text()
    assert "pdlu-vm" not in mounts and str(tmp_path) not in mounts
    assert not f.inventory.exists()
    assert elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"] == []
    assert f.list() == [] and f.destroy() == []
