"""The lab's data plane against a bare moto server: the sample app per tag, the ALB proxy's routing and metrics."""
import concurrent.futures
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from harness import REPO, free_port
from lab import alb as lab_alb


def http_get(url, timeout=10):
    """(status, headers, body) — 4xx/5xx are answers, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


_app_ips = itertools.count(10)


class App:
    """One `python -m lab.app` process on its own loopback address (moto keys targets by Id, i.e. by IP)."""

    def __init__(self, tag, **env):
        self.ip = "127.2.%d.%d" % (os.getpid() % 250, next(_app_ips) % 250)
        self.port = free_port()
        self.url = "http://%s:%d" % (self.ip, self.port)
        full_env = dict(os.environ, PORT=str(self.port), LAB_BIND=self.ip, LAB_IMAGE_TAG=tag, **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "lab.app"], cwd=str(REPO), env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                http_get(self.url + "/", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("app %s did not start" % tag)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stdout.read()


@pytest.fixture
def app_factory():
    apps = []

    def start(tag, **env):
        app = App(tag, **env)
        apps.append(app)
        return app
    yield start
    for app in apps:
        app.stop()


def many(url, n, workers=8):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: _timed(url), range(n)))


def _timed(url):
    t0 = time.monotonic()
    status, headers, _ = http_get(url)
    return status, time.monotonic() - t0, headers


# ---------------------------------------------------------------- the app

def test_app_healthy_release_answers_every_endpoint(app_factory):
    app = app_factory("v1.2.2", LAB_TASK_ARN="arn:aws:ecs:us-east-1:123456789012:task/c/abc",
                      DB_PASSWORD="s3cr3t-db-value")
    for path in ("/health", "/health/db", "/health/deps", "/api/v1/items"):
        status, headers, body = http_get(app.url + path)
        assert status == 200, path
        assert headers["X-App-Version"] == "v1.2.2"
        assert b"s3cr3t-db-value" not in body
    status, _, body = http_get(app.url + "/api/v1/status")
    doc = json.loads(body)
    assert (status, doc["version"], doc["tag"]) == (200, "v1.2.2", "v1.2.2")
    assert doc["task_arn"].endswith("task/c/abc") and doc["hostname"]
    assert b"s3cr3t" not in body
    assert http_get(app.url + "/nope")[0] == 404
    assert "s3cr3t" not in app.stop()


def test_app_version_env_overrides_reported_version(app_factory):
    app = app_factory("v1.2.3", VERSION="1.2.3-build7")
    status, headers, body = http_get(app.url + "/api/v1/status")
    assert headers["X-App-Version"] == "1.2.3-build7"
    assert json.loads(body)["tag"] == "v1.2.3"


def test_app_unhealthy_tag_fails_health_but_serves_api(app_factory):
    app = app_factory("v1.2.4-unhealthy")
    assert http_get(app.url + "/health")[0] == 503
    assert http_get(app.url + "/health/deps")[0] == 503
    assert http_get(app.url + "/api/v1/items")[0] == 200


def test_app_error_tag_fails_about_five_percent(app_factory):
    bad, good = app_factory("v1.2.4-errors"), app_factory("v1.2.2")
    n = 1000
    statuses = [s for s, _, _ in many(bad.url + "/api/v1/items", n)]
    errors = sum(1 for s in statuses if s == 500)
    assert set(statuses) <= {200, 500}
    # 5 % of 1000 = 50, sd 6.9: 3.5 sd either side
    assert 26 <= errors <= 74, errors
    assert all(s == 200 for s, _, _ in many(good.url + "/api/v1/items", 200))


def test_app_slow_tag_adds_200ms(app_factory):
    slow, good = app_factory("v1.2.4-slow"), app_factory("v1.2.2")
    # Side by side, alternating: a burst of load hits both apps alike (one after the other, a burst during the good
    # app's 40 requests once made the difference 158 ms in a CI rehearsal).
    urls = [app.url + "/api/v1/items" for _ in range(40) for app in (slow, good)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        latencies = [t for _, t, _ in pool.map(_timed, urls)]
    slow_lat, good_lat = latencies[0::2], latencies[1::2]
    assert 0.003 <= statistics.median(good_lat) <= 0.1, statistics.median(good_lat)
    delta = statistics.median(slow_lat) - statistics.median(good_lat)
    assert 0.17 <= delta <= 0.4, delta


def test_app_standalone_file_uses_baked_behaviour_and_stops_on_sigterm(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "app.py").write_text((REPO / "lab" / "app" / "server.py").read_text())
    (release / "behaviour.json").write_text(json.dumps({"error_rate": 0, "extra_latency_ms": 600, "health": "fail"}))
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "VERSION": "v9.9.9"}
    proc = subprocess.Popen(["/usr/bin/python3", str(release / "app.py")], env=env, cwd=str(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = "http://127.0.0.1:%d" % port
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                status, headers, _ = http_get(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        assert (status, headers["X-App-Version"]) == (503, "v9.9.9")
        # a request in flight when SIGTERM arrives is still answered
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            slow = pool.submit(_timed, url + "/api/v1/items")
            time.sleep(0.2)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0, proc.stderr.read()
            assert time.monotonic() - t0 < 2
            status, latency, _ = slow.result(timeout=5)
            assert status == 200 and latency >= 0.6
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- the ALB data plane

def make_alb(moto, apps_by_slot, weights, listener_port=80):
    """An ALB in moto with one ip target group per slot (its apps registered) and a weighted listener."""
    ec2, elbv2 = moto.client("ec2"), moto.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone="us-east-1" + az)
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb_arn = elbv2.create_load_balancer(Name="myapp-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {}
    for slot, apps in apps_by_slot.items():
        tg = elbv2.create_target_group(Name="myapp-" + slot, Protocol="HTTP", Port=8080, VpcId=vpc,
                                       TargetType="ip", HealthCheckPath="/health")["TargetGroups"][0]
        tgs[slot] = tg["TargetGroupArn"]
        if apps:
            elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                                   Targets=[{"Id": a.ip, "Port": a.port} for a in apps])
    listener = elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=listener_port,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tgs[slot], "Weight": w} for slot, w in weights.items()]}}])["Listeners"][0]
    return lb_arn, tgs, listener["ListenerArn"]


@pytest.fixture
def plane_factory(moto):
    planes = []

    def start(**kw):
        plane = lab_alb.AlbDataPlane(endpoint=moto.url, alb_name="myapp-alb",
                                     listener_ports={80: free_port()}, **kw).start()
        planes.append(plane)
        return plane
    yield start
    for plane in planes:
        t0 = time.monotonic()
        plane.stop()
        assert time.monotonic() - t0 < 6


def test_proxy_honours_weights_and_follows_listener_changes(moto, app_factory, plane_factory):
    blue, green = app_factory("v1.2.2"), app_factory("v1.2.3")
    _, tgs, listener_arn = make_alb(moto, {"a": [blue], "b": [green]}, {"a": 90, "b": 10})
    plane = plane_factory(publish=False)
    results = many(plane.url(80) + "/api/v1/items", 400)
    assert all(s == 200 for s, _, _ in results)
    versions = [h["X-App-Version"] for _, _, h in results]
    tg_names = [h["X-Lab-Target-Group"] for _, _, h in results]
    assert versions.count("v1.2.2") + versions.count("v1.2.3") == 400
    assert [v == "v1.2.2" for v in versions] == [t == "myapp-a" for t in tg_names]
    # 10 % of 400 = 40, sd 6: 3.5 sd either side
    assert 19 <= versions.count("v1.2.3") <= 61, versions.count("v1.2.3")

    # the API is the source of truth: a weight change is followed at the next refresh (every second; waited for up
    # to 10 s, a loaded CI machine schedules the refresher late - how fast is a benchmark's question, not a test's)
    moto.client("elbv2").modify_listener(ListenerArn=listener_arn, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tgs["b"]}])
    deadline = time.time() + 10
    while time.time() < deadline and many(plane.url(80) + "/api/v1/items", 1)[0][2]["X-App-Version"] != "v1.2.3":
        time.sleep(0.2)
    versions = [h["X-App-Version"] for _, _, h in many(plane.url(80) + "/api/v1/items", 50)]
    assert versions == ["v1.2.3"] * 50


def test_proxy_follows_listener_rules_before_the_default_action(moto, app_factory, plane_factory):
    blue, green = app_factory("v1.2.2"), app_factory("v1.2.3")
    _, tgs, listener_arn = make_alb(moto, {"a": [blue], "b": [green]}, {"a": 1})
    moto.client("elbv2").create_rule(
        ListenerArn=listener_arn, Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": tgs["b"]}])
    plane = plane_factory(publish=False)
    assert {h["X-App-Version"] for _, _, h in many(plane.url(80) + "/api/v1/items", 10)} == {"v1.2.3"}
    assert {h["X-App-Version"] for _, _, h in many(plane.url(80) + "/health", 10)} == {"v1.2.2"}


def test_proxy_round_robins_over_healthy_targets_only(moto, app_factory, plane_factory):
    apps = [app_factory("v1.2.2", VERSION="v1.2.2-%d" % i) for i in range(3)]
    _, tgs, _ = make_alb(moto, {"a": apps}, {"a": 1})
    plane = plane_factory(publish=False)
    versions = [h["X-App-Version"] for _, _, h in many(plane.url(80) + "/api/v1/items", 30, workers=1)]
    assert {versions.count("v1.2.2-%d" % i) for i in range(3)} == {10}

    # bare moto reports every registered target healthy; feed the proxy a health view with one draining
    real = lab_alb.healthy_targets
    draining_ip = apps[0].ip
    lab_alb.healthy_targets = lambda desc, port: [t for t in real(desc, port) if t[0] != draining_ip]
    try:
        time.sleep(1.5)
        versions = [h["X-App-Version"] for _, _, h in many(plane.url(80) + "/api/v1/items", 20, workers=1)]
    finally:
        lab_alb.healthy_targets = real
    assert "v1.2.2-0" not in versions and len(set(versions)) == 2


def test_no_healthy_target_is_an_elb_503_and_dead_target_a_502(moto, app_factory, plane_factory):
    app = app_factory("v1.2.2")
    _, tgs, listener_arn = make_alb(moto, {"a": [], "b": [app]}, {"a": 1})
    plane = plane_factory(publish=False)
    status, headers, body = http_get(plane.url(80) + "/api/v1/items")
    assert (status, headers["X-Lab-Target-Group"]) == (503, "myapp-a")
    assert b"no healthy target" in body
    moto.client("elbv2").modify_listener(ListenerArn=listener_arn, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tgs["b"]}])
    time.sleep(1.5)
    assert http_get(plane.url(80) + "/api/v1/items")[0] == 200
    app.stop()
    assert http_get(plane.url(80) + "/api/v1/items")[0] == 502


def test_metrics_published_per_target_group_with_aws_dimensions(moto, app_factory, plane_factory):
    blue, bad = app_factory("v1.2.2"), app_factory("v1.2.4-errors", LAB_BEHAVIOUR=json.dumps({"error_rate": 0.5}))
    lb_arn, tgs, _ = make_alb(moto, {"a": [blue], "b": [bad]}, {"a": 50, "b": 50})
    # On-time publishing of every count (the lab's own shape): the AWS shape has its own test below.
    plane = plane_factory(metric_period=2, cw_shape="lab", delay_periods="0")
    start = datetime.now(timezone.utc) - timedelta(seconds=10)
    results = many(plane.url(80) + "/api/v1/items", 200)
    flushes = plane.flushes
    deadline = time.time() + 15
    while plane.flushes < flushes + 2 and time.time() < deadline:
        time.sleep(0.2)   # the period of the last request closes and is published (+1: a flush under way when
        #                   `flushes` was read may have drained before the last requests were recorded)
    sent = {"myapp-a": [0, 0], "myapp-b": [0, 0]}
    for status, _, h in results:
        sent[h["X-Lab-Target-Group"]][0] += 1
        sent[h["X-Lab-Target-Group"]][1] += status >= 500
    cw = moto.client("cloudwatch")
    lb_dim = lb_arn.split(":loadbalancer/")[1]
    assert lb_dim.startswith("app/myapp-alb/")

    def total(metric, dims, stat="Sum"):
        points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName=metric, Dimensions=dims,
                                          StartTime=start, EndTime=datetime.now(timezone.utc) + timedelta(seconds=10),
                                          Period=60, Statistics=[stat])["Datapoints"]
        return sum(p[stat] for p in points)

    for slot, arn in tgs.items():
        tg_dim = "targetgroup/" + arn.split(":targetgroup/")[1]
        assert tg_dim.startswith("targetgroup/myapp-%s/" % slot)
        dims = [{"Name": "TargetGroup", "Value": tg_dim}, {"Name": "LoadBalancer", "Value": lb_dim}]
        requests, errors = sent["myapp-" + slot]
        assert total("RequestCount", dims) == requests
        assert total("HTTPCode_Target_5XX_Count", dims) == errors
        assert total("HTTPCode_Target_2XX_Count", dims) == requests - errors
        assert total("HTTPCode_ELB_5XX_Count", dims) == 0
        assert total("TargetResponseTime", dims, "SampleCount") == requests
        avg = total("TargetResponseTime", dims, "Sum") / requests
        assert 0.003 < avg < 0.2
    assert sent["myapp-b"][1] > 0
    # bare moto matches dimension *subsets* (CloudWatch matches exact sets): the query on LoadBalancer alone
    # sums both target-group series (200) and the load-balancer-only aggregate (200)
    assert total("RequestCount", [{"Name": "LoadBalancer", "Value": lb_dim}]) == 400
    listed = cw.list_metrics(Namespace="AWS/ApplicationELB", MetricName="RequestCount")["Metrics"]
    assert {tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed} == {
        ("LoadBalancer",), ("LoadBalancer", "TargetGroup")}


def _wait_scheme(plane, port, scheme, timeout=5):
    deadline = time.time() + timeout
    while not plane.url(port).startswith(scheme + "://") and time.time() < deadline:
        time.sleep(0.1)
    assert plane.url(port).startswith(scheme + "://"), plane.url(port)
    time.sleep(0.3)   # the certificate is loaded in the same refresh


def test_https_listener_serves_the_certificate_its_api_listener_names(moto, app_factory, plane_factory, tmp_path,
                                                                      monkeypatch):
    import http.client
    import ssl
    from lab import config, tls
    monkeypatch.setattr(config, "STATE_DIR", tmp_path)         # the lab CA and key store of this test alone
    app = app_factory("v1.2.2")
    _, tgs, listener_arn = make_alb(moto, {"a": [app]}, {"a": 1})
    issued = tls.issue_server_certificate(["myapp-alb.lab.test"], ["127.0.0.1"])
    acm, elbv2 = moto.client("acm"), moto.client("elbv2")
    cert_arn = acm.import_certificate(Certificate=issued["certificate"], PrivateKey=issued["private_key"],
                                      CertificateChain=issued["chain"])["CertificateArn"]
    plane = plane_factory(publish=False)
    port = plane.listener_ports[80]
    forward = [{"Type": "forward", "TargetGroupArn": tgs["a"]}]
    assert http_get(plane.url(80) + "/health")[0] == 200

    elbv2.modify_listener(ListenerArn=listener_arn, Protocol="HTTPS", Certificates=[{"CertificateArn": cert_arn}],
                          DefaultActions=forward)
    _wait_scheme(plane, 80, "https")
    trusted = ssl.create_default_context(cafile=str(tls.ca_bundle_path()))

    def get(name=None, context=trusted):
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
        if name:     # connect to 127.0.0.1, validate as `name` (SNI + hostname check)
            conn.connect = lambda: setattr(conn, "sock", context.wrap_socket(
                __import__("socket").create_connection(("127.0.0.1", port), 5), server_hostname=name))
        try:
            conn.request("GET", "/health", headers={"Host": name or "127.0.0.1"})
            return conn.getresponse().status
        finally:
            conn.close()

    assert get() == 200                                         # 127.0.0.1 is in the certificate
    assert get("myapp-alb.lab.test") == 200                     # so is the ALB's name
    with pytest.raises(ssl.SSLCertVerificationError, match="[Hh]ostname mismatch|not valid for"):
        get("other.example.com")
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate in certificate chain"):
        get(context=ssl.create_default_context())               # the system's CAs do not know the lab CA
    with pytest.raises((OSError, http.client.HTTPException)):
        http_get("http://127.0.0.1:%d/health" % port, timeout=3)  # an HTTPS listener speaks only TLS

    # a certificate whose key the lab does not hold: the listener refuses TLS
    foreign_ca, foreign_ca_key = tls.make_ca()
    foreign, foreign_key = tls.issue(foreign_ca, foreign_ca_key, ["myapp-alb.lab.test"], ["127.0.0.1"])
    foreign_arn = acm.import_certificate(Certificate=foreign, PrivateKey=foreign_key)["CertificateArn"]
    elbv2.modify_listener(ListenerArn=listener_arn, Certificates=[{"CertificateArn": foreign_arn}],
                          DefaultActions=forward)
    deadline = time.time() + 5
    while plane.snapshot.certificates.get(80) != foreign_arn and time.time() < deadline:
        time.sleep(0.1)
    unverified = ssl._create_unverified_context()
    with pytest.raises((ssl.SSLError, OSError)):
        get(context=unverified)
    assert plane.tls_refused >= 1

    elbv2.modify_listener(ListenerArn=listener_arn, Protocol="HTTP", DefaultActions=forward)
    _wait_scheme(plane, 80, "http")
    assert http_get(plane.url(80) + "/health")[0] == 200


def test_aws_shaped_metrics_arrive_periods_late_and_without_zero_counts(moto, app_factory, plane_factory):
    app = app_factory("v1.2.2")
    lb_arn, tgs, _ = make_alb(moto, {"a": [app]}, {"a": 1})
    plane = plane_factory(metric_period=2, cw_shape="aws", delay_periods="2")
    results = many(plane.url(80) + "/api/v1/items", 50)
    period_end = (int(time.time() // 2) + 1) * 2          # the last request's period ends here, put 2 periods later
    assert all(s == 200 for s, _, _ in results)
    cw = moto.client("cloudwatch")
    dims = [{"Name": "TargetGroup", "Value": "targetgroup/" + tgs["a"].split(":targetgroup/")[1]},
            {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/")[1]}]

    def total(metric, stat="Sum"):
        now = datetime.now(timezone.utc)
        points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName=metric, Dimensions=dims,
                                          StartTime=now - timedelta(minutes=2), EndTime=now + timedelta(seconds=10),
                                          Period=60, Statistics=[stat])["Datapoints"]
        return sum(p[stat] for p in points)

    time.sleep(max(0.0, period_end + 1.5 - time.time()))
    assert total("RequestCount") < 50                     # the last period is not there one period after its end
    deadline = period_end + 12
    while total("RequestCount") < 50 and time.time() < deadline:
        time.sleep(0.25)
    arrived = time.time()
    assert total("RequestCount") == 50 and arrived >= period_end + 3.5, (arrived - period_end)
    assert total("TargetResponseTime", "SampleCount") == 50
    listed = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/ApplicationELB")["Metrics"]}
    assert {"RequestCount", "HTTPCode_Target_2XX_Count", "TargetResponseTime"} <= listed
    assert not listed & {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_4XX_Count"}
