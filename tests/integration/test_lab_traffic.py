"""The lab's traffic generator: steady rate, every outcome recorded per second, report, background control."""
import json
import os
import subprocess
import sys
import time

import pytest

from harness import REPO
from lab import traffic
from test_lab_dataplane import App, app_factory, make_alb, plane_factory  # noqa: F401  (fixtures)


def test_steady_rate_recorded_per_second(app_factory, tmp_path):
    app = app_factory("v1.2.2")
    out = tmp_path / "t.jsonl"
    gen = traffic.TrafficGenerator(app.url, rps=50, out=out, max_duration=3).start()
    assert gen.wait(10)
    gen.stop()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["sent"] for r in records) == 150
    assert [r["t"] for r in records] == list(range(records[0]["t"], records[0]["t"] + len(records)))
    rep = traffic.report(out)
    assert rep["totals"]["sent"] == rep["totals"]["ok_2xx"] == 150
    assert rep["failures"] == 0 and rep["failures_by_second"] == []
    assert rep["by_version"] == {"v1.2.2": 150}
    assert all(s["share"] == {"v1.2.2": 1.0} for s in rep["share_by_second"])
    assert 3 <= rep["latency_ms"]["p50"] <= rep["latency_ms"]["p95"] < 1000
    table = traffic.format_report(rep)
    assert "sent 150" in table and "v1.2.2" in table


def test_errors_and_connection_failures_are_recorded(app_factory, tmp_path):
    bad = app_factory("v1.2.4-errors", LAB_BEHAVIOUR=json.dumps({"error_rate": 0.2}))
    out = tmp_path / "t.jsonl"
    with traffic.TrafficGenerator(bad.url, rps=40, out=out, max_duration=10) as gen:
        time.sleep(1.5)
        bad.stop()
        killed_at = time.time()
        time.sleep(1.5)
    rep = traffic.report(out)
    assert rep["totals"]["failed_5xx"] > 0
    assert rep["totals"]["conn_errors"] > 20
    assert rep["failures"] == rep["totals"]["failed_5xx"] + rep["totals"]["conn_errors"]
    conn_seconds = [f["t"] for f in rep["failures_by_second"] if f["conn_errors"]]
    assert min(conn_seconds) >= int(killed_at) - 1
    assert rep["totals"]["sent"] == gen.sent
    # the window filter
    late = traffic.report(out, since=int(killed_at) + 1)
    assert late["totals"]["ok_2xx"] == 0 and late["totals"]["conn_errors"] == late["totals"]["sent"] > 0


def test_weight_change_shows_in_share_by_version_within_two_seconds(moto, app_factory, plane_factory, tmp_path):
    blue, green = app_factory("v1.2.2"), app_factory("v1.2.3")
    _, tgs, listener_arn = make_alb(moto, {"a": [blue], "b": [green]}, {"a": 100, "b": 0})
    plane = plane_factory(publish=False)
    out = tmp_path / "t.jsonl"
    with traffic.TrafficGenerator(plane.url(80), rps=100, out=out, max_duration=20):
        time.sleep(2)
        moto.client("elbv2").modify_listener(ListenerArn=listener_arn, DefaultActions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": tgs["a"], "Weight": 50}, {"TargetGroupArn": tgs["b"], "Weight": 50}]}}])
        changed = time.time()
        time.sleep(4)
    before = traffic.report(out, until=int(changed))
    assert before["by_version"] == {"v1.2.2": before["totals"]["sent"]}
    after = traffic.report(out, since=int(changed) + 2)
    share = after["by_version"]["v1.2.3"] / after["totals"]["sent"]
    assert 0.35 <= share <= 0.65, after["by_version"]
    assert after["by_target_group"]["myapp-b"] == after["by_version"]["v1.2.3"]
    assert traffic.report(out)["failures"] == 0


def test_background_start_stop_report_cli(app_factory, tmp_path):
    app = app_factory("v1.2.3")
    env = dict(os.environ, LAB_STATE_DIR=str(tmp_path))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "lab.traffic"] + list(args), cwd=str(REPO), env=env,
                              capture_output=True, text=True, timeout=30)

    started = cli("start", "--rps", "20", "--url", app.url)
    assert started.returncode == 0, started.stderr
    t_started = time.time()
    pid = int((tmp_path / "traffic.pid").read_text())
    assert cli("start", "--url", app.url).returncode != 0      # one generator at a time
    time.sleep(2.5)
    assert cli("stop").stdout.strip() == "lab traffic stopped"
    elapsed = time.time() - t_started
    with pytest.raises(OSError):
        os.kill(pid, 0)
    assert not (tmp_path / "traffic.pid").exists()
    rep = json.loads(cli("report", "--json").stdout)
    # CLI start-up (a Python interpreter each) eats part of the elapsed time
    assert 20 * (elapsed - 2.5) <= rep["totals"]["sent"] <= 20 * (elapsed + 0.5), elapsed
    assert rep["failures"] == 0
    assert rep["by_version"] == {"v1.2.3": rep["totals"]["sent"]}
    table = cli("report").stdout
    assert "share by version per second" in table and "v1.2.3" in table
    assert cli("stop").stdout.strip() == "lab traffic was not running"


def test_refuses_targets_outside_the_lab():
    from lab import config
    a, b, c = (int(x) for x in config.VM_SUBNET.split("."))
    for url in ("http://8.8.8.8/", "http://example.com/", "http://%d.%d.%d.5/" % (a, b, c + 1)):
        with pytest.raises(ValueError):
            traffic.TrafficGenerator(url)
    traffic.check_target("http://%s.11:8080" % config.VM_SUBNET)
    traffic.check_target("http://127.1.0.10:8080")
