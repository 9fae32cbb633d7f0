"""A good release under a throttled, flaky AWS (issue 14 item 2): 20 % of every service's requests throttled with the
protocol's real error, 2 % answered 500 InternalError / 503 ServiceUnavailable, all of the deployment's own requests
(lab/faults.py). It still reaches 100 % with no failed user request."""
import json
import time
import urllib.request

FAULTED_KEY = "AKIAPDFAULTYDEPLOYER1"      # a dummy key of the run's own: the lab's key (`testing`) stays unfaulted
FAULTED_SECRET = "faulty-deployer-secret-value-0123456789"
FAULTS = {"services": {"*": {"throttle": 0.20, "error": 0.02}}}
STEPS = [{"percent": 10, "watch_seconds": 15}, {"percent": 100, "watch_seconds": 10}]   # two short watches: cheaper in CI


def inventory_access_key():
    """The lab inventory's key: a deployer principal's when the lab enforces IAM (then the run must keep it)."""
    import yaml
    from harness import REPO
    doc = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "aws.yml").read_text()) or {}
    return str(doc.get("aws_access_key") or "")


def set_faults(lab, doc):
    req = urllib.request.Request(lab.endpoint + "/lab-api/faults", data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode())


def requests_of(lab, key, since):
    out = []
    with open(lab.state_dir / "api-requests.jsonl") as log:
        for line in log:
            record = json.loads(line)
            if record.get("key") == key and record["t"] >= since:
                out.append(record)
    return out


def test_good_release_reaches_100_under_20_percent_throttling_and_2_percent_5xx(world):
    creds = {}
    key = world.lab_vars().get("aws_access_key") or inventory_access_key()
    if not key or key == "testing" or "{" in key:   # the run signs with its own key, so only its requests are faulted
        key = FAULTED_KEY
        creds = {"aws_access_key": FAULTED_KEY, "aws_secret_key": FAULTED_SECRET, "aws_session_token": ""}
    started = time.time()
    set_faults(world.lab, dict(FAULTS, keys=[key]))
    try:
        result = world.deploy("v1.2.3", ecs_validate_steps=STEPS, **creds)
    finally:
        set_faults(world.lab, {})
    seen = requests_of(world.lab, key, started)
    faulted = [r for r in seen if r.get("fault")]
    by_service = {}
    for r in faulted:
        by_service.setdefault(r["service"], {}).setdefault(r["fault"], 0)
        by_service[r["service"]][r["fault"]] += 1
    print("deployment: %d requests, %d faulted (%s), %.0f s" % (len(seen), len(faulted), json.dumps(by_service),
                                                               time.time() - started))
    assert result.rc == 0, result
    assert world.weights() == {"a": 0, "b": 100}
    image, dummy = world.image_of("b")
    assert image.endswith("@" + world.digest_of_tag("v1.2.3"))
    assert world.service("a")["desiredCount"] == 0
    assert world.lock() is None
    report = world.traffic_report(since=started)
    assert report["totals"]["sent"] > 0 and report["by_version"].get("v1.2.3", 0) > 0
    assert report["failures"] == 0, report["failures_by_second"]
    # The faults really hit the run: about a fifth of its requests, on every service it called, in the right shapes.
    assert len(seen) > 50
    share = len([r for r in faulted if r["fault"] == "throttle"]) / float(len(seen))
    assert 0.08 < share < 0.35, share      # 20 % of some 80 requests: 3 standard deviations either side
    # JSON (ECS), query (ELBv2) and CBOR (CloudWatch) are called often enough to be throttled in every run; the
    # services called a few times only (ECR, SSM, IAM, STS ...) are under the same "*" setting.
    for service in ("ecs", "elasticloadbalancing", "monitoring"):
        assert by_service.get(service, {}).get("throttle"), (service, by_service)
    assert {"ecr", "ssm", "sts"} <= {r["service"] for r in seen}
    assert {r["status"] for r in faulted if r["fault"] == "throttle" and r["service"] == "ecs"} == {400}
    # (2 % of some 80 requests: a run draws no 5xx about one time in five; their shapes are in tests/unit/lab)
    assert {r["status"] for r in faulted if r["fault"] == "5xx"} <= {500, 503}


AUDIT_KEY = "AKIAPDFAULTYAUDITOR01"
AUDIT_GROUP = "/deployments/audit-under-faults"


def test_audit_shipper_survives_failed_puts_and_ships_everything_later(lab, tmp_path):
    """Every put of the callback's CloudWatch Logs shipper is throttled until a task switches the faults off: the
    records wait in the buffer and all reach the stream, in order, within the same run."""
    from harness import localhost_play, run_playbook
    logs = lab.client("logs")
    try:
        logs.create_log_group(logGroupName=AUDIT_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    stream = "run-%d" % int(time.time() * 1000)
    audit = tmp_path / "audit.jsonl"
    event = {"ansible.builtin.set_fact": {"deployment_audit_event": {"execution_id": "exec-faults", "phase": "{{ item }}"}},
             "loop": ["validate", "green"]}
    tasks = [
        dict(event, name="Records while every put is throttled"),
        {"name": "Switch the faults off", "ansible.builtin.uri": {
            "url": lab.endpoint + "/lab-api/faults", "method": "POST", "body_format": "json", "body": {}}},
        {"name": "Past the shipper's pause", "ansible.builtin.pause": {"seconds": 5}},
        dict(event, name="Records once the API answers again", loop=["shift", "cleanup"]),
    ]
    started = time.time()
    set_faults(lab, {"services": {"logs": {"throttle": 1.0}}, "keys": [AUDIT_KEY]})
    try:
        result = run_playbook(localhost_play(tasks, lab.endpoint), env={
            "ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit", "DEPLOYMENT_AUDIT_FILE": str(audit),
            "DEPLOYMENT_AUDIT_LOG_GROUP": AUDIT_GROUP, "DEPLOYMENT_AUDIT_LOG_STREAM": stream,
            "DEPLOYMENT_AUDIT_ENDPOINT_URL": lab.endpoint, "DEPLOYMENT_AUDIT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": AUDIT_KEY, "AWS_SECRET_ACCESS_KEY": FAULTED_SECRET}, timeout=300)
    finally:
        set_faults(lab, {})
    assert result.rc == 0, result
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r.get("phase") for r in records if r["record"] == "step"] == ["validate", "green", "shift", "cleanup"]
    events = logs.get_log_events(logGroupName=AUDIT_GROUP, logStreamName=stream, startFromHead=True)["events"]
    assert [json.loads(e["message"]) for e in events] == records
    assert result.stderr.count("records are buffered and shipped again later") == 1, result.stderr
    assert "works again after" in result.stderr and "not shipped" not in result.stderr, result.stderr
    calls = requests_of(lab, AUDIT_KEY, started)
    throttled = [c for c in calls if c.get("fault") == "throttle"]
    assert throttled and {c["status"] for c in throttled} == {400}
    assert calls[-1]["action"] == "PutLogEvents" and calls[-1]["status"] == 200
