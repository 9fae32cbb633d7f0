"""`python -m lab up` is idempotent and `python -m lab down` leaves no process, namespace, bridge or port.

Runs a second, private lab (own state dir, ports, VM bridge / subnet / namespace names) so the shared
session lab is not touched."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness import free_port

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def can_make_vms():
    return os.geteuid() == 0 and shutil.which("ip") and Path("/usr/sbin/sshd").exists()


def run_lab(env, *args, timeout=180):
    return subprocess.run([sys.executable, "-m", "lab"] + list(args), cwd=str(REPO), env=env, capture_output=True,
                          text=True, timeout=timeout)


def alive(pid):
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_exists(name):
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_up_is_idempotent_and_down_leaves_nothing_behind(tmp_path):
    tag = uuid.uuid4().hex[:4]
    ports = {"AWS_PORT": free_port(), "PROD_PORT": free_port(), "TEST_PORT": free_port(), "VM_PORT": free_port()}
    vms = 2 if can_make_vms() else 0
    env = dict(os.environ, LAB_STATE_DIR=str(tmp_path / "state"), LAB_DESIRED_COUNT="2", LAB_VM_COUNT=str(vms),
               LAB_VM_BRIDGE="pdd%s" % tag, LAB_VM_SUBNET="10.214.%d" % (int(tag, 16) % 250),
               LAB_VM_PREFIX="pdd%s-vm" % tag, LAB_VM_INVENTORY=str(tmp_path / "vm_hosts.yml"),
               **{"LAB_" + k: str(v) for k, v in ports.items()})
    try:
        up = run_lab(env, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "http://127.0.0.1:%d" % ports["PROD_PORT"] in up.stdout
        again = run_lab(env, "up")
        assert again.returncode == 0 and "already up" in again.stdout

        status = json.loads(subprocess.run(
            ["curl", "-s", "http://127.0.0.1:%d/lab-api/status" % ports["AWS_PORT"]],
            capture_output=True, text=True, timeout=10).stdout)
        assert status["ready"] is True
        daemon = status["pid"]
        task_pids = [t["pid"] for s in status["services"].values() for t in s["tasks"]]
        assert len(task_pids) == 2 and all(alive(p) for p in task_pids)
        traffic = run_lab(env, "traffic", "start", "--rps", "5")
        assert traffic.returncode == 0, traffic.stderr
        traffic_pid = int((tmp_path / "state" / "traffic.pid").read_text())
        if vms:
            assert {"pdd%s-vm1" % tag, "pdd%s-vm2" % tag} <= netns_names()
            assert link_exists("pdd%s" % tag)
        assert not port_free(ports["AWS_PORT"]) and not port_free(ports["PROD_PORT"])
    finally:
        down = run_lab(env, "down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not alive(daemon)
    assert not any(alive(p) for p in task_pids)
    assert not alive(traffic_pid)
    assert not [n for n in netns_names() if n.startswith("pdd%s" % tag)]
    assert not link_exists("pdd%s" % tag)
    assert all(port_free(p) for p in ports.values())
    assert not (tmp_path / "state" / "daemon.pid").exists()
    assert not list((tmp_path / "state" / "tasks").glob("*.pid"))
    status_after = run_lab(env, "status")
    assert status_after.returncode == 1 and "not up" in status_after.stdout


def test_tasks_die_with_a_killed_daemon_and_down_still_cleans_up(tmp_path):
    ports = {"AWS_PORT": free_port(), "PROD_PORT": free_port(), "TEST_PORT": free_port(), "VM_PORT": free_port()}
    env = dict(os.environ, LAB_STATE_DIR=str(tmp_path / "state"), LAB_DESIRED_COUNT="1", LAB_VM_COUNT="0",
               **{"LAB_" + k: str(v) for k, v in ports.items()})
    try:
        up = run_lab(env, "up", "--no-vms")
        assert up.returncode == 0, up.stdout + up.stderr
        status = json.loads(subprocess.run(
            ["curl", "-s", "http://127.0.0.1:%d/lab-api/status" % ports["AWS_PORT"]],
            capture_output=True, text=True, timeout=10).stdout)
        daemon = status["pid"]
        [task_pid] = [t["pid"] for s in status["services"].values() for t in s["tasks"]]
        os.kill(daemon, 9)
        deadline = time.time() + 10
        while (alive(daemon) or alive(task_pid)) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(daemon) and not alive(task_pid)
    finally:
        down = run_lab(env, "down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert all(port_free(p) for p in ports.values())
