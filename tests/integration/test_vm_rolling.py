"""VM rolling deployment over SSH (issue 6): playbooks/vm_rolling.yml and vm_rollback.yml on the lab's namespace hosts.

Needs root (network namespaces) and openssh-server, like the lab's VM hosts. The fleet (5 hosts, release v1.2.2,
registered in target group myapp-vm behind the lab ALB's VM listener) is recreated where a test needs a clean
start. Tests run in file order and reuse the state the one before left where that saves a rollout; each one
checks its own precondition and brings the fleet there if needed.

To run against a private lab beside a shared one, export LAB_STATE_DIR, LAB_AWS_PORT, LAB_PROD_PORT, LAB_TEST_PORT,
LAB_VM_PORT, LAB_VM_BRIDGE, LAB_VM_SUBNET, LAB_VM_PREFIX and LAB_VM_INVENTORY before pytest starts.
"""
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import REPO, localhost_play, run_playbook

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists(),
                       reason="VM hosts need root and openssh-server"),
]

ROLLING = REPO / "playbooks" / "vm_rolling.yml"
ROLLBACK = REPO / "playbooks" / "vm_rollback.yml"
HOSTS = 5
OLD, NEW, UNHEALTHY = "v1.2.2", "v1.2.3", "v1.2.4-unhealthy"
LOCK = "/progressive-delivery/vm/vm_hosts"           # the fleet's lock: vm_rolling_lock_name's default for vm_hosts


class Fleet:
    """The lab's VM hosts as the controller sees them: /srv of each host is a directory in the lab's state dir."""

    def __init__(self, lab):
        from lab import vmhosts
        from lab.__main__ import vm_fleet_args
        self.lab = lab
        self.args = vm_fleet_args()
        self.vmfleet = vmhosts.VmFleet(**self.args)
        self.names = ["%s%d" % (self.args["prefix"], i) for i in range(1, HOSTS + 1)]
        self.address = {n: self.vmfleet.address(i) for i, n in enumerate(self.names, 1)}
        self.inventory = Path(self.args["inventory"])
        self.artifacts = Path(self.args["state_dir"]) / "artifacts"

    def recreate(self):
        self.vmfleet.create(HOSTS)
        self.wait_all_healthy()

    def srv(self, name):
        return Path(self.args["state_dir"]) / "vms" / name / "srv" / "myapp"

    def current(self, name):
        try:
            return os.readlink(self.srv(name) / "current").rsplit("/", 1)[-1]
        except OSError:
            return None

    def previous(self, name):
        try:
            return os.readlink(self.srv(name) / "previous").rsplit("/", 1)[-1]
        except OSError:
            return None

    def releases(self, name):
        return sorted(p.name for p in (self.srv(name) / "releases").iterdir() if p.is_dir())

    def app_pid(self, name):
        try:
            pid = int((self.srv(name) / "run" / "myapp.pid").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def health(self):
        """{address: state} of the VM target group."""
        elbv2 = self.lab.client("elbv2")
        arn = elbv2.describe_target_groups(Names=["myapp-vm"])["TargetGroups"][0]["TargetGroupArn"]
        return {d["Target"]["Id"]: d["TargetHealth"]["State"]
                for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}

    def wait_all_healthy(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            health = self.health()
            if all(health.get(self.address[n]) == "healthy" for n in self.names):
                return health
            time.sleep(0.5)
        raise AssertionError("VM targets not all healthy after %d s: %s" % (timeout, self.health()))

    def snapshot(self):
        return {n: (self.current(n), self.app_pid(n)) for n in self.names}

    def veth(self, name):
        return self.vmfleet.veth(self.names.index(name) + 1)


def run(fleet, playbook, env=None, **extra):
    extra_vars = {"aws_endpoint_url": fleet.lab.endpoint}
    extra_vars.update(extra)
    # The lab inventory's hosts file (its group_vars come with it), not its directory: a vm_hosts.yml another lab
    # wrote there would add that lab's hosts to the play.
    return run_playbook(playbook, extra_vars=extra_vars, inventory=REPO / "inventories" / "lab" / "hosts.yml",
                        args=("-i", str(fleet.inventory)), timeout=900, env=env)


def audited(tmp_path):
    """The env that turns the deployment_audit callback on, writing to tmp_path/audit.jsonl."""
    return {"ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit",
            "DEPLOYMENT_AUDIT_FILE": str(tmp_path / "audit.jsonl")}


def audit_records(tmp_path):
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def steps(records):
    """The step records (audit_event's), each with what the callback keeps under `details` lifted beside the rest."""
    return [dict(r.get("details") or {}, **r) for r in records if r.get("phase")]


def lock_play(fleet, execution_id, state="present", check=False):
    """deploy_lock on the fleet's lock, through the module's interface."""
    return run_playbook(localhost_play([{"name": "Lock", "progressive.delivery.deploy_lock": {
        "name": LOCK, "execution_id": execution_id, "digest": "sha256:" + "0" * 64, "owner": "another-team",
        "state": state}}], fleet.lab.endpoint), check=check)


def lock_is_free(fleet):
    """Another execution could take the fleet's lock (asked in check mode: nothing is written)."""
    probe = lock_play(fleet, "probe-%d" % time.time(), check=True)
    return probe.rc == 0


def page_text(path):
    import html
    import re
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", path.read_text(), flags=re.S))).split())


def tasks(result):
    """(task name without its role prefix, host, result) of every task."""
    return [(name.split(" : ")[-1], host, res) for name, host, res in result.tasks()]


def failures(result):
    return [(name.split(" : ")[-1], host, msg) for name, host, msg in result.failures()]


def failure_text(result):
    return "\n".join("%s %s: %s" % (task, host, msg) for task, host, msg in failures(result))


def report_lines(result):
    """The report play's line per host."""
    return [r.get("msg", "") for name, host, res in tasks(result) if name.startswith("Rollout result")
            for r in res.get("results", [])]


def ensure_all_on(fleet, version):
    """Bring every host to `version` (all at once, no traffic) unless it is there already."""
    if all(fleet.current(n) == version and fleet.app_pid(n) for n in fleet.names):
        return
    result = run(fleet, ROLLING, vm_deploy_version=version, vm_rolling_serial=HOSTS)
    assert result.rc == 0, result
    fleet.wait_all_healthy()


@pytest.fixture(scope="module")
def fleet(lab):
    # The playbooks run as the lab deployer (inventories/lab), held to docs' policy (LAB_IAM_ENFORCE, on by default).
    assert lab.iam_enforce() == lab.config.IAM_ENFORCE
    f = Fleet(lab)
    f.recreate()
    yield f


@pytest.fixture
def traffic(lab, tmp_path):
    """Steady traffic through the lab ALB's VM listener; yields a function returning the report so far."""
    from lab import traffic as lab_traffic
    out = tmp_path / "traffic.jsonl"
    gen = lab_traffic.TrafficGenerator(lab.vm_url, rps=20, out=out, max_duration=900)
    gen.start()
    time.sleep(2)

    def report():
        gen.stop()
        return lab_traffic.report(out)
    yield report
    gen.stop()


def test_checksum_mismatch_is_refused_before_any_host_is_touched(fleet, tmp_path):
    fleet.recreate()
    before, health_before = fleet.snapshot(), fleet.health()

    given = run(fleet, ROLLING, vm_deploy_version=NEW, vm_rolling_serial=2, vm_deploy_sha256="0" * 64)
    assert given.rc != 0
    assert "Checksum mismatch" in failure_text(given) and "vm_deploy_sha256 expects " + "0" * 64 in failure_text(given)
    assert "Refused before any host was touched" in failure_text(given)

    # A package whose sidecar does not match it (tampered package, honest sidecar).
    package = tmp_path / ("myapp-%s.tar.gz" % NEW)
    shutil.copy(fleet.artifacts / package.name, package)
    shutil.copy(fleet.artifacts / (package.name + ".sha256"), str(package) + ".sha256")
    with open(package, "ab") as f:
        f.write(b"tampered")
    sidecar = run(fleet, ROLLING, vm_deploy_version=NEW, vm_rolling_serial=2, vm_deploy_artifact=str(package))
    assert sidecar.rc != 0
    assert "Checksum mismatch for %s" % package in failure_text(sidecar)
    assert ".sha256 expects" in failure_text(sidecar)

    for result in (given, sidecar):
        names = {n for n, _, _ in tasks(result)}
        assert "Reach the host" not in names and "Copy the package myapp-%s.tar.gz" % NEW not in names
    assert fleet.snapshot() == before
    assert fleet.health() == health_before
    assert all(fleet.releases(n) == [OLD] for n in fleet.names)


def test_a_second_rollout_is_refused_by_the_fleet_lock_before_any_host_is_touched(fleet, tmp_path):
    before, health_before = fleet.snapshot(), fleet.health()
    held = lock_play(fleet, "other-run-7")
    assert held.rc == 0, held
    try:
        result = run(fleet, ROLLING, env=audited(tmp_path), vm_deploy_version=NEW, vm_rolling_serial=2)
        assert result.rc != 0
        refused = [(task, msg) for task, host, msg in failures(result)]
        assert refused and all(task == "Take the fleet's deployment lock - " + LOCK for task, msg in refused), refused
        assert "other-run-7" in str(refused[0][1]), refused
        names = {n for n, _, _ in tasks(result)}
        assert "Read the host's release state" not in names and "Copy the package myapp-%s.tar.gz" % NEW not in names
        assert fleet.snapshot() == before and fleet.health() == health_before
        assert [r["phase"] for r in steps(audit_records(tmp_path))] == []
        assert not lock_is_free(fleet)                  # still the other run's
    finally:
        released = lock_play(fleet, "other-run-7", state="absent")
    assert released.rc == 0, released
    assert lock_is_free(fleet)


@pytest.mark.parametrize("bad, fragment", [("vm_rolling_execution_id", "vm_rolling_execution_id"),
                                           ("vm_rolling_lock_name", "vm_rolling_lock_name")])
def test_a_bad_execution_id_or_lock_name_is_refused_before_the_lock_is_written(fleet, bad, fragment):
    before = fleet.snapshot()
    result = run(fleet, ROLLING, vm_deploy_version=NEW, **{bad: "../not ok"})
    assert result.rc != 0
    assert fragment in failure_text(result) and "Nothing was changed" in failure_text(result)
    assert not [t for t, h, r in tasks(result) if t.startswith("Take the fleet's deployment lock")]
    assert fleet.snapshot() == before and lock_is_free(fleet)


def test_elb_target_batch_drains_and_registers_a_batch_in_one_run(fleet):
    pair = fleet.names[:2]
    targets = [{"id": fleet.address[n], "port": 8080} for n in pair]

    def batch_task(state, **more):
        return run_playbook(localhost_play([{"name": "Batch", "register": "out",
                                             "progressive.delivery.elb_target_batch": dict(
                                                 target_group_name="myapp-vm", targets=targets, state=state,
                                                 timeout=60, poll_interval=1, **more)}], fleet.lab.endpoint))

    fleet.wait_all_healthy()
    out = batch_task("absent")
    assert out.rc == 0, out
    res = out.task("Batch")
    assert res["changed"] and sorted(res["changed_targets"]) == sorted("%s:8080" % t["id"] for t in targets)
    assert set(res["targets"].values()) == {"unused"}               # drained: no longer registered
    assert not set(fleet.address[n] for n in pair) & set(fleet.health())
    assert all(fleet.health()[fleet.address[n]] == "healthy" for n in fleet.names[2:])   # the rest untouched
    again = batch_task("absent")
    assert again.rc == 0 and not again.task("Batch")["changed"]     # idempotent

    back = batch_task("present")
    assert back.rc == 0, back
    assert back.task("Batch")["changed"] and set(back.task("Batch")["targets"].values()) == {"healthy"}
    assert all(fleet.health()[fleet.address[n]] == "healthy" for n in pair)
    assert not batch_task("present").task("Batch")["changed"]

    wrong = run_playbook(localhost_play([{"name": "Batch", "progressive.delivery.elb_target_batch": dict(
        target_group_name="myapp-vm", targets=[{"id": fleet.address[pair[0]], "port": 0}], state="absent")}],
        fleet.lab.endpoint))
    assert wrong.rc != 0 and "targets[0]" in failure_text(wrong) and "port 1-65535" in failure_text(wrong)
    assert fleet.health()[fleet.address[pair[0]]] == "healthy"


def test_rolling_deploy_in_batches_of_two_under_traffic_with_zero_failed_requests(fleet, traffic, tmp_path, receiver):
    old_mtime = time.time() - 7 * 86400
    for n in fleet.names:                        # two older releases on each host, for the keep-N check
        for old in ("v1.1.0", "v1.2.0"):
            d = fleet.srv(n) / "releases" / old
            d.mkdir(exist_ok=True)
            old_mtime += 60
            os.utime(d, (old_mtime, old_mtime))
    assert all(fleet.current(n) == OLD for n in fleet.names)

    started = time.time()
    result = run(fleet, ROLLING, env=audited(tmp_path), vm_deploy_version=NEW, vm_rolling_serial=2,
                 vm_rolling_execution_id="vm-e2e-1", vm_deploy_report_dir=str(tmp_path / "reports"),
                 deploy_notify_webhook_enabled=True, deploy_notify_webhook_url=receiver.url + "/hook")
    took = time.time() - started
    rep = traffic()

    assert result.rc == 0, result
    assert all(fleet.current(n) == NEW and fleet.previous(n) == OLD and fleet.app_pid(n) for n in fleet.names)
    # keep 3 (the lab inventory's vm_deploy_keep_releases): the oldest one went
    assert all(fleet.releases(n) == ["v1.2.0", OLD, NEW] for n in fleet.names), {n: fleet.releases(n) for n in fleet.names}
    assert fleet.wait_all_healthy()
    assert report_lines(result) == ["%s: deployed %s (was %s)" % (n, NEW, OLD) for n in fleet.names]
    # zero downtime, measured: every request through the VM listener answered 2xx, by both versions over the run
    assert rep["totals"]["sent"] >= 20 * took * 0.5, rep["totals"]
    assert rep["failures"] == 0, rep["failures_by_second"]
    assert rep["totals"]["ok_2xx"] == rep["totals"]["sent"] - rep["totals"]["skipped"]
    assert rep["by_version"].get(OLD) and rep["by_version"].get(NEW), rep["by_version"]
    # batches of two: the third host was still on the old release while the first two were switched
    by_host_batch = [task for task, host, res in tasks(result) if task == "Remember this batch"]
    assert len(by_host_batch) == HOSTS
    batches = [res["ansible_facts"]["vm_deploy_batch"] for task, host, res in tasks(result) if task == "Remember this batch"]
    assert sorted(map(tuple, batches)) == sorted([tuple(fleet.names[0:2])] * 2 + [tuple(fleet.names[2:4])] * 2
                                                 + [tuple(fleet.names[4:5])])

    # the audit trail: validate, one record per batch (hosts, versions, health, timings), the finish
    records = steps(audit_records(tmp_path))
    assert [r["phase"] for r in records] == ["validate", "batch", "batch", "batch", "finish"], records
    assert {r["execution_id"] for r in records} == {"vm-e2e-1"}
    assert records[0]["decision"] == "deploy" and records[0]["lock"] == LOCK
    for number, (record, hosts) in enumerate(zip(records[1:4], (fleet.names[0:2], fleet.names[2:4], fleet.names[4:5])), 1):
        assert record["decision"] == "pass" and int(record["batch"]) == number
        assert [h["host"] for h in record["hosts"]] == hosts
        assert all(h["status"] == "deployed" and h["before"] == OLD and h["version"] == NEW and h["health"] == "healthy"
                   and int(h["switch_seconds"]) >= 0 and h["target"] == "%s:%s" % (fleet.address[h["host"]], 8080)
                   for h in record["hosts"]), record["hosts"]
        assert int(record["seconds"]) >= 0 and record["started_at"]
    assert records[-1]["decision"] == "deployed" and len(records[-1]["hosts"]) == HOSTS
    # the report: batches host by host
    page = tmp_path / "reports" / "myapp-vm-e2e-1.html"
    words = page_text(page)
    assert "SUCCEEDED" in words and "Batches: host by host" in words and "Strategy rolling, batches of 2" in words
    assert all("Batch %d: pass" % n in words for n in (1, 2, 3))
    assert all("%s %s:8080 deployed %s %s healthy" % (n, fleet.address[n], OLD, NEW) in words for n in fleet.names)
    # the fleet's lock was released
    assert lock_is_free(fleet)
    # the channel that is on heard the start, each batch and the end, once each (from one host of the play)
    hooks = [json.loads(h["body"]) for h in receiver.posts("/hook")]
    assert [h["event"] for h in hooks] == ["start", "step", "step", "step", "success"], hooks
    assert [h["deployment"]["step"]["batch"] for h in hooks[1:4]] == [1, 2, 3], hooks
    assert hooks[-1]["status"] == "SUCCEEDED" and hooks[-1]["deployment"]["execution_id"] == "vm-e2e-1", hooks[-1]


def test_rerun_of_the_same_version_changes_nothing_and_restarts_nothing(fleet, lab, tmp_path):
    ensure_all_on(fleet, NEW)
    before = fleet.snapshot()
    # This time the package comes from S3 (with its sidecar object): same bytes, same release.
    s3 = lab.client("s3")
    s3.create_bucket(Bucket="vm-releases")
    for name in ("myapp-%s.tar.gz" % NEW, "myapp-%s.tar.gz.sha256" % NEW):
        s3.upload_file(str(fleet.artifacts / name), "vm-releases", "myapp/" + name)

    result = run(fleet, ROLLING, vm_deploy_version=NEW, vm_rolling_serial=2, vm_deploy_s3_bucket="vm-releases",
                 vm_deploy_s3_key="myapp/myapp-%s.tar.gz" % NEW, vm_deploy_controller_cache_dir=str(tmp_path / "cache"))

    assert result.rc == 0, result
    assert (tmp_path / "cache" / "vm-releases" / ("myapp-%s.tar.gz" % NEW)).is_file()
    host_results = [(task, host, res) for task, host, res in tasks(result) if host in fleet.names]
    controller_side = ("Create the controller's package cache", "Download the S3 package")
    changed = [(task, host) for task, host, res in host_results if res.get("changed")
               and not task.startswith(controller_side)]
    assert changed == []
    assert fleet.snapshot() == before                      # same release, same pid: no restart
    assert report_lines(result) == ["%s: unchanged %s" % (n, NEW) for n in fleet.names]


def test_rollback_puts_every_host_back_on_the_previous_release(fleet, traffic):
    ensure_all_on(fleet, NEW)
    assert all(fleet.previous(n) == OLD for n in fleet.names)

    result = run(fleet, ROLLBACK, vm_rolling_serial=2)
    rep = traffic()

    assert result.rc == 0, result
    assert all(fleet.current(n) == OLD and fleet.app_pid(n) for n in fleet.names)
    assert fleet.wait_all_healthy()
    assert rep["failures"] == 0, rep["failures_by_second"]
    lines = [r.get("msg", "") for name, host, res in tasks(result) if name.startswith("Rollback result")
             for r in res.get("results", [])]
    assert lines == ["%s: rolled back %s (was %s)" % (n, OLD, NEW) for n in fleet.names]


def test_version_failing_health_rolls_the_first_batch_back_and_stops(fleet, traffic, tmp_path):
    if not all(fleet.current(n) == OLD and fleet.app_pid(n) for n in fleet.names):
        fleet.recreate()
    before = fleet.snapshot()

    result = run(fleet, ROLLING, env=audited(tmp_path), vm_deploy_version=UNHEALTHY, vm_rolling_serial=2,
                 vm_rolling_max_fail_percentage=0, vm_rolling_execution_id="vm-e2e-bad",
                 vm_deploy_report_dir=str(tmp_path / "reports"))
    rep = traffic()

    assert result.rc != 0
    first, rest = fleet.names[:2], fleet.names[2:]
    failed = {host: msg for task, host, msg in failures(result) if task == "Stop here - this host failed, or its batch did"}
    assert sorted(failed) == first, result
    for host in first:
        assert host in failed[host] and fleet.address[host] in failed[host]
        assert "%s failed at 'Switch current to the release and wait for the health URL to answer 200 - %s'" % (
            UNHEALTHY, UNHEALTHY) in failed[host]
        assert "503" in failed[host]
        assert "rolled back to %s" % OLD in failed[host]
        assert "rollout stopped" in failed[host]
        assert fleet.current(host) == OLD and fleet.app_pid(host)
        assert UNHEALTHY not in fleet.releases(host)
    for host in rest:                                     # never touched: same release, same process
        assert fleet.snapshot()[host] == before[host]
    assert not [t for t, h, r in tasks(result) if h in rest and t == "Reach the host"]
    assert fleet.wait_all_healthy()
    assert rep["failures"] == 0, rep["failures_by_second"]  # traffic still served, all the way through
    assert set(rep["by_version"]) == {OLD}
    # the rollback in the audit trail and the report, and the lock released although the rollout stopped
    records = steps(audit_records(tmp_path))
    assert [r["phase"] for r in records] == ["validate", "batch", "rollback"], records
    assert records[1]["decision"] == "fail" and float(records[1]["failed_percent"]) == 100.0
    assert [(h["host"], h["status"], h["version"]) for h in records[1]["hosts"]] == [(h, "failed", OLD) for h in first]
    assert records[2]["decision"] == "rolled-back" and "503" in records[2]["reason"]
    words = page_text(tmp_path / "reports" / "myapp-vm-e2e-bad.html")
    assert "ROLLED BACK" in words and "Batch 1: fail" in words and "Batch 2" not in words
    assert "Why it was rolled back %s:" % first[0] in words
    assert lock_is_free(fleet)


def _drop_link(veth):
    subprocess.run(["ip", "link", "set", veth, "down"], check=True, timeout=10)


def _restore_link(veth):
    subprocess.run(["ip", "link", "set", veth, "up"], check=True, timeout=10)


def test_host_unreachable_mid_run_within_max_fail_percentage_rollout_continues(fleet):
    fleet.recreate()
    lost = fleet.names[2]                                # first host of the second batch
    results = {}
    runner = threading.Thread(target=lambda: results.setdefault("r", run(
        fleet, ROLLING, vm_deploy_version=NEW, vm_rolling_serial=2, vm_rolling_max_fail_percentage=50)))
    runner.start()
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not all(fleet.current(n) == NEW for n in fleet.names[:2]):
            time.sleep(0.2)
        assert all(fleet.current(n) == NEW for n in fleet.names[:2]), "first batch never switched"
        _drop_link(fleet.veth(lost))                     # mid-run: after batch one, before batch two
        runner.join(900)
    finally:
        _restore_link(fleet.veth(lost))
    result = results["r"]

    assert result.rc != 0
    assert [fleet.current(n) for n in fleet.names] == [NEW, NEW, OLD, NEW, NEW]
    failed = {host: msg for task, host, msg in failures(result) if task == "Stop here - this host failed, or its batch did"}
    assert list(failed) == [lost], result
    assert "failed at 'Reach the host'" in failed[lost] and fleet.address[lost] in failed[lost]
    assert "rollout continues" in failed[lost]
    line = [line for line in report_lines(result) if line.startswith(lost + ":")]
    assert line and "failed" in line[0] and "Reach the host" in line[0], report_lines(result)


def _rollout_losing_host_mid_switch(fleet, lost, env=None, **extra):
    """A rollout to NEW whose host `lost` loses its link once its `current` points at NEW - mid-task, between its
    switch and its start; the link comes back after the run."""
    results = {}
    runner = threading.Thread(target=lambda: results.setdefault("r", run(
        fleet, ROLLING, env=env, vm_deploy_version=NEW, **extra)))
    runner.start()
    try:
        deadline = time.time() + 600
        while time.time() < deadline and fleet.current(lost) != NEW and runner.is_alive():
            time.sleep(0.05)
        assert fleet.current(lost) == NEW, "the host never switched"
        _drop_link(fleet.veth(lost))
        runner.join(900)
    finally:
        _restore_link(fleet.veth(lost))
    return results["r"]


def test_host_lost_mid_switch_beyond_max_fail_percentage_stops_and_rolls_its_batch_back(fleet):
    fleet.recreate()
    lost, mate, rest = fleet.names[0], fleet.names[1], fleet.names[2:]
    before = fleet.snapshot()
    result = _rollout_losing_host_mid_switch(fleet, lost, vm_rolling_serial=2, vm_rolling_max_fail_percentage=0)

    assert result.rc != 0
    assert [(t, h) for t, h, r in tasks(result) if r.get("unreachable")] and \
        {h for t, h, r in tasks(result) if r.get("unreachable")} == {lost}
    failed = {host: msg for task, host, msg in failures(result) if task == "Stop here - this host failed, or its batch did"}
    # the lost host stays in the play (its SSH tasks after the first contact ignore unreachability) and fails there
    assert sorted(failed) == sorted([lost, mate]), result
    assert "unreachable over SSH mid-run" in failed[lost] and "not attempted (host unreachable)" in failed[lost]
    assert "rolled back to %s with its batch" % OLD in failed[mate]
    assert "%s: unreachable over SSH" % lost in failed[mate] and fleet.address[lost] in failed[mate]
    assert "50.0 % failed (limit 0.0 %): rollout stopped" in failed[mate]
    assert fleet.current(mate) == OLD and fleet.app_pid(mate)
    assert fleet.health().get(fleet.address[mate]) == "healthy"
    for host in rest:
        assert fleet.snapshot()[host] == before[host]
    assert not [t for t, h, r in tasks(result) if h in rest and t == "Reach the host"]


def test_the_only_host_of_a_batch_lost_mid_switch_still_ends_the_rollout_audited_reported_and_unlocked(fleet, tmp_path):
    # serial 1 (the default): the lost host is its whole batch. Before, it left the play, the play ended with it and
    # the report play never ran: no audit end, no report, no notification, the fleet's lock held until its TTL.
    fleet.recreate()
    lost, rest = fleet.names[0], fleet.names[1:]
    before = fleet.snapshot()
    result = _rollout_losing_host_mid_switch(fleet, lost, env=audited(tmp_path), vm_rolling_execution_id="vm-e2e-lost",
                                             vm_deploy_report_dir=str(tmp_path / "reports"))

    assert result.rc != 0
    assert {h for t, h, r in tasks(result) if r.get("unreachable")} == {lost}
    failed = {host: msg for task, host, msg in failures(result) if task == "Stop here - this host failed, or its batch did"}
    assert list(failed) == [lost], result
    assert "unreachable over SSH mid-run" in failed[lost] and fleet.address[lost] in failed[lost], failed[lost]
    assert "not attempted (host unreachable); it is out of its target group" in failed[lost]
    assert "100.0 % failed (limit 0.0 %): rollout stopped" in failed[lost]
    assert not [t for t, h, r in tasks(result) if h in rest and t == "Read the host's release state"]
    for host in rest:
        assert fleet.snapshot()[host] == before[host]
    # the rollout's end is recorded, the lock released, the report written - by the lost host's own batch
    records = steps(audit_records(tmp_path))
    assert [r["phase"] for r in records] == ["validate", "batch", "rollback"], records
    assert [(h["host"], h["status"], h["health"]) for h in records[1]["hosts"]] == [(lost, "unreachable", "unknown")]
    assert records[1]["decision"] == "fail" and records[-1]["decision"] == "rolled-back"
    assert "unreachable over SSH mid-run" in records[-1]["reason"]
    words = page_text(tmp_path / "reports" / "myapp-vm-e2e-lost.html")
    assert "ROLLED BACK" in words and "Batch 1: fail" in words and "Batch 2" not in words
    assert lock_is_free(fleet)


def test_lab_reset_puts_the_running_vm_hosts_back_behind_the_load_balancer(fleet):
    """`lab reset` reseeds the AWS world, VM target group included; the hosts it still runs must come back in it."""
    proc = fleet.lab.cli("reset", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "%d VM hosts registered again" % HOSTS in proc.stdout, proc.stdout
    # Registered, whatever their health: earlier tests here leave hosts in all sorts of states.
    assert set(fleet.health()) == set(fleet.address.values())
