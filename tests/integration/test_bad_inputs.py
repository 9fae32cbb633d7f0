"""Every bad input refused before any AWS write, with a message naming the input (issue 15).

One table of bad inputs across modules and role / playbook entry points. Each row runs as its own inventory host
(own variables, own facts, own dummy AWS access key) in one ansible-playbook run per entry point, against the lab.
For each row the test asserts three things:
  1. refused - the row's task failed;
  2. before any write - the lab's request log (api-requests.jsonl, field `key`) holds no write call signed with
     that row's access key (reads, e.g. GetCallerIdentity, are allowed);
  3. the message names the input.
Schedule rows are refused by deploy_policy.validate_schedule (the traffic_schedule filter), naming the step and field.
"""
import json
import secrets
import time
from pathlib import Path

import pytest
import yaml

from harness import REPO, VENV_BIN

pytestmark = pytest.mark.lab

DIGEST = "sha256:" + "a" * 64
GOOD_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@" + DIGEST
EVENT = json.loads((REPO / "examples" / "eventbridge" / "ecr-push-event.json").read_text())
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Simulate", "Lookup", "Head")


def event(**changes):
    e = json.loads(json.dumps(EVENT))
    for key, value in changes.items():
        if key.startswith("detail_"):
            e["detail"][key[7:].replace("_", "-")] = value
        else:
            e[key] = value
    return e


def clone(image=None, **container):
    c = dict(name="myapp", **container)
    if image is not None:
        c["image"] = image
    return {"source": "myapp", "containers": [c]}


def smoke(**args):
    return dict(dict(base_url="http://127.0.0.1:9", paths=["/health"], requests=1), **args)


def lock(**args):
    return dict(dict(name="/progressive-delivery/locks/table/myapp", execution_id="table-run"), **args)


def shift(**args):
    return dict(dict(listener_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2",
                     live_target_group="myapp-a", candidate_target_group="myapp-b", candidate_percent=10), **args)


# (id, entry point, module or role inputs, words the message must contain[, xfail reason])
ROWS = [
    # ---- ecs_taskdef_clone: image references validated by the module itself
    ("clone-image-semicolon", "ecs_taskdef_clone", clone("myapp;rm -rf /"), ["image", "myapp;rm -rf /"]),
    ("clone-image-subshell", "ecs_taskdef_clone", clone("myapp$(id)"), ["image", "myapp$(id)"]),
    ("clone-image-backtick", "ecs_taskdef_clone", clone("myapp`id`"), ["image", "myapp`id`"]),
    ("clone-image-pipe", "ecs_taskdef_clone", clone("myapp|nc x 1"), ["image"]),
    ("clone-image-dotdot", "ecs_taskdef_clone", clone("registry.example.com/../etc/passwd"), ["image", "../etc"]),
    ("clone-image-leading-dotdot", "ecs_taskdef_clone", clone("../myapp:v1"), ["image", "../myapp"]),
    ("clone-image-ampersand", "ecs_taskdef_clone", clone("myapp:v1&&x"), ["image"]),
    ("clone-image-newline", "ecs_taskdef_clone", clone("myapp:v1\nX"), ["image"]),
    ("clone-image-blank", "ecs_taskdef_clone", clone("my app"), ["image", "my app"]),
    ("clone-image-empty", "ecs_taskdef_clone", clone(""), ["image"]),
    ("clone-image-uppercase", "ecs_taskdef_clone", clone("MyApp:v1"), ["image", "MyApp"]),
    ("clone-image-bad-digest", "ecs_taskdef_clone", clone("myapp@sha256:xyz"), ["image", "sha256:xyz"]),
    ("clone-repository-dotdot", "ecs_taskdef_clone", clone(repository="reg.example.com/../x", digest=DIGEST), ["repository"]),
    ("clone-digest-short", "ecs_taskdef_clone", clone(repository="myapp", digest="sha256:abc"), ["digest", "sha256:abc"]),
    ("clone-image-and-digest", "ecs_taskdef_clone", clone(GOOD_IMAGE, digest=DIGEST), ["image", "digest"]),
    ("clone-env-name-digit", "ecs_taskdef_clone", clone(environment={"9LIVES": "x"}), ["environment", "9LIVES"]),
    ("clone-env-name-equals", "ecs_taskdef_clone", clone(environment={"A=B": "x"}), ["environment", "A=B"]),
    ("clone-env-set-and-removed", "ecs_taskdef_clone", clone(environment={"A": "1"}, remove_environment=["A"]),
     ["environment", "'A'"]),
    ("clone-secret-plaintext", "ecs_taskdef_clone", clone(secrets={"DB_PASSWORD": "hunter2 plain"}),
     ["secret DB_PASSWORD", "not shown"]),
    ("clone-secret-s3-arn", "ecs_taskdef_clone", clone(secrets={"DB": "arn:aws:s3:::bucket/key"}), ["secret DB"]),
    ("clone-secret-name", "ecs_taskdef_clone", clone(secrets={"1X": "/myapp/db"}), ["secret name", "1X"]),
    ("clone-cpu-bad", "ecs_taskdef_clone", dict(source="myapp", cpu="lots"), ["cpu", "lots"]),
    ("clone-memory-negative", "ecs_taskdef_clone", dict(source="myapp", memory=-5), ["memory"]),
    ("clone-override-containers", "ecs_taskdef_clone", dict(source="myapp", overrides={"containerDefinitions": []}),
     ["containerDefinitions"]),
    ("clone-override-unknown", "ecs_taskdef_clone", dict(source="myapp", overrides={"noSuchField": 1}), ["noSuchField"]),
    ("clone-container-twice", "ecs_taskdef_clone", {"source": "myapp", "containers": [{"name": "a"}, {"name": "a"}]},
     ["container", "'a'"]),
    # ---- http_smoke: URLs and paths
    ("smoke-file-url", "http_smoke", smoke(base_url="file:///etc/passwd"), ["base_url", "only http"]),
    ("smoke-ftp-url", "http_smoke", smoke(base_url="ftp://127.0.0.1/"), ["base_url", "only http"]),
    ("smoke-metadata", "http_smoke", smoke(base_url="http://169.254.169.254"), ["base_url", "link-local"]),
    ("smoke-link-local", "http_smoke", smoke(base_url="http://169.254.3.4:8080"), ["base_url", "link-local"]),
    ("smoke-ipv6-link-local", "http_smoke", smoke(base_url="http://[fe80::1]:80"), ["base_url", "link-local"]),
    ("smoke-ec2-ipv6-metadata", "http_smoke", smoke(base_url="http://[fd00:ec2::254]"), ["base_url", "metadata"]),
    ("smoke-gcp-metadata", "http_smoke", smoke(base_url="http://metadata.google.internal"), ["base_url", "metadata"]),
    ("smoke-no-host", "http_smoke", smoke(base_url="http://"), ["base_url", "no host"]),
    ("smoke-relative", "http_smoke", smoke(base_url="127.0.0.1:9000"), ["base_url"]),
    ("smoke-path-other-host", "http_smoke", smoke(paths=["//169.254.169.254/latest"]), ["paths"]),
    ("smoke-path-scheme", "http_smoke", smoke(paths=["/x://y"]), ["paths"]),
    ("smoke-requests-zero", "http_smoke", smoke(requests=0), ["requests"]),
    ("smoke-error-rate", "http_smoke", smoke(max_error_rate=2), ["max_error_rate"]),
    # ---- deploy_lock
    ("lock-relative-name", "deploy_lock", lock(name="locks/myapp"), ["name", "locks/myapp"]),
    ("lock-aws-prefix", "deploy_lock", lock(name="/aws/reserved"), ["name", "/aws/reserved"]),
    ("lock-blank-name", "deploy_lock", lock(name="/locks/my app"), ["name"]),
    ("lock-double-slash", "deploy_lock", lock(name="/locks//myapp"), ["name"]),
    ("lock-execution-blank", "deploy_lock", lock(execution_id="run 1"), ["execution_id", "run 1"]),
    ("lock-execution-empty", "deploy_lock", lock(execution_id=""), ["execution_id"]),
    ("lock-ttl-zero", "deploy_lock", lock(ttl_seconds=0), ["ttl_seconds"]),
    ("lock-ttl-negative", "deploy_lock", lock(ttl_seconds=-60), ["ttl_seconds"]),
    ("lock-renew-ttl-huge", "deploy_lock", lock(state="renewed", ttl_seconds=10 ** 9), ["ttl_seconds"]),
    # ---- alb_weighted_shift
    ("shift-percent-150", "alb_weighted_shift", shift(candidate_percent=150), ["candidate_percent", "150"]),
    ("shift-percent-negative", "alb_weighted_shift", shift(candidate_percent=-1), ["candidate_percent"]),
    ("shift-same-groups", "alb_weighted_shift", shift(candidate_target_group="myapp-a"), ["live_target_group"]),
    ("shift-weights-all-zero", "alb_weighted_shift", dict(shift(), candidate_percent=None,
                                                          weights={"myapp-a": 0, "myapp-b": 0}), ["weight"]),
    ("shift-wait-timeout", "alb_weighted_shift", shift(wait_timeout=100000), ["wait_timeout"]),
    ("shift-rule-arn", "alb_weighted_shift", shift(rule_arn="arn:aws:nope"), ["rule_arn"]),
    # ---- ecr_image_verify
    ("ecr-tag-pattern", "ecr_image_verify", dict(repository="myapp", tag="latest", tag_pattern="^v[0-9]+$"),
     ["tag", "latest"]),
    ("ecr-severity", "ecr_image_verify", dict(repository="myapp", tag="v1.2.3", fail_on_severity="SOMETIMES"),
     ["fail_on_severity"]),
    # ---- role ecs_validate: image tag, ECR push events, execution id, lock name, schedule
    ("validate-tag-shell", "ecs_validate", dict(ecs_validate_image_tag="v1.2.3;id"), ["ecs_validate_image_tag"]),
    ("validate-tag-dotdot", "ecs_validate", dict(ecs_validate_image_tag="../v1.2.3"), ["ecs_validate_image_tag"]),
    ("validate-tag-latest", "ecs_validate", dict(ecs_validate_image_tag="latest"), ["ecs_validate_image_tag"]),
    ("validate-tag-empty", "ecs_validate", dict(ecs_validate_image_tag=""), ["ecs_validate_image_tag"]),
    ("validate-event-other-repo", "ecs_validate", dict(ecs_validate_ecr_event=event(detail_repository_name="payments")),
     ["repository payments", "ecs_validate_ecr_repository"]),
    ("validate-event-other-region", "ecs_validate", dict(ecs_validate_ecr_event=event(region="eu-west-1")),
     ["region eu-west-1", "ecs_validate_ecr_region"]),
    ("validate-event-configured-account", "ecs_validate",
     dict(ecs_validate_ecr_event=event(account="999999999999"), ecs_validate_ecr_account="123456789012"),
     ["account 999999999999", "ecs_validate_ecr_account"]),
    ("validate-event-caller-account", "ecs_validate", dict(ecs_validate_ecr_event=event(account="999999999999")),
     ["account 999999999999", "ecs_validate_ecr_account"]),
    ("validate-event-delete", "ecs_validate", dict(ecs_validate_ecr_event=event(detail_action_type="DELETE")),
     ["ECR image event", "DELETE"]),
    ("validate-event-failed", "ecs_validate", dict(ecs_validate_ecr_event=event(detail_result="FAILURE")),
     ["ECR image push", "FAILURE"]),
    ("validate-event-bad-digest", "ecs_validate", dict(ecs_validate_ecr_event=event(detail_image_digest="sha256:1")),
     ["image-digest"]),
    ("validate-event-tag-shell", "ecs_validate", dict(ecs_validate_ecr_event=event(detail_image_tag="v1;id")),
     ["image-tag"]),
    ("validate-event-not-json", "ecs_validate", dict(ecs_validate_ecr_event="{not json"), ["ecs_validate_ecr_event"]),
    ("validate-event-source", "ecs_validate", dict(ecs_validate_ecr_event=event(source="aws.s3")), ["source", "aws.s3"]),
    ("validate-execution-id", "ecs_validate", dict(ecs_validate_image_tag="v1.2.3", ecs_validate_execution_id="x; rm"),
     ["ecs_validate_execution_id"]),
    ("validate-lock-name", "ecs_validate", dict(ecs_validate_image_tag="v1.2.3", ecs_validate_lock_name="/aws/x"),
     ["ecs_validate_lock_name"]),
    # A session shorter than the longest stretch one module run works on it (here the green rollout wait).
    ("validate-session-too-short", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", aws_assume_role_arn="arn:aws:iam::123456789012:role/myapp-deployer",
          aws_assume_role_duration=900, ecs_green_deploy_timeout=900), ["aws_assume_role_duration", "900 s"]),
    ("validate-steps-fraction", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", ecs_validate_steps=[{"percent": 10.5, "watch_seconds": 5}, {"percent": 100, "watch_seconds": 5}]),
     ["ecs_validate_steps[0].percent", "10.5"]),
    ("validate-steps-soon", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", ecs_validate_steps=[{"percent": 10, "watch_seconds": "soon"}, {"percent": 100, "watch_seconds": 5}]),
     ["ecs_validate_steps[0].watch_seconds", "soon"]),
    ("validate-steps-over-100", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", ecs_validate_steps=[{"percent": 50, "watch_seconds": 5}, {"percent": 150, "watch_seconds": 5}]),
     ["ecs_validate_steps"]),
    ("validate-steps-not-to-100", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", ecs_validate_steps=[{"percent": 10, "watch_seconds": 5}]), ["ecs_validate_steps"]),
    ("validate-steps-negative-watch", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", ecs_validate_steps=[{"percent": 100, "watch_seconds": -5}]), ["ecs_validate_steps"]),
    # A later phase's input, checked against its role's argument spec by validation (before any AWS call), not when
    # that phase starts - after traffic moved.
    ("validate-later-hold-seconds", "ecs_validate", dict(ecs_validate_image_tag="v1.2.3", ecs_cleanup_hold_seconds="soon"),
     ["ecs_cleanup_hold_seconds"]),
    ("validate-later-spending", "ecs_validate", dict(ecs_validate_image_tag="v1.2.3", ecs_traffic_shift_spending="even"),
     ["ecs_traffic_shift_spending", "even"]),
    ("validate-later-rollback-targets", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", ecs_rollback_min_healthy_targets="all"), ["ecs_rollback_min_healthy_targets"]),
    ("validate-later-notify-events", "ecs_validate",
     dict(ecs_validate_image_tag="v1.2.3", deploy_notify_slack_events=["start", "always"]), ["deploy_notify_slack_events"]),
    # ---- role vm_deploy (tasks_from verify_artifact): systemd environment, S3 location, version
    ("vm-env-newline", "vm_deploy", dict(vm_deploy_systemd_environment={"A": "x\nExecStartPre=/bin/sh -c id"}),
     ["vm_deploy_systemd_environment[A]"]),
    ("vm-env-carriage-return", "vm_deploy", dict(vm_deploy_systemd_environment={"A": "x\rY"}),
     ["vm_deploy_systemd_environment[A]"]),
    ("vm-env-name-blank", "vm_deploy", dict(vm_deploy_systemd_environment={"A B": "x"}), ["vm_deploy_systemd_environment", "A B"]),
    ("vm-env-name-equals", "vm_deploy", dict(vm_deploy_systemd_environment={"A=B": "x"}), ["vm_deploy_systemd_environment", "A=B"]),
    ("vm-env-nested", "vm_deploy", dict(vm_deploy_systemd_environment={"A": {"b": 1}}), ["vm_deploy_systemd_environment[A]"]),
    ("vm-s3-bucket-dotdot", "vm_deploy", dict(vm_deploy_s3_bucket="../../etc", vm_deploy_s3_key="app.tgz"),
     ["vm_deploy_s3_bucket", "../../etc"]),
    ("vm-s3-bucket-upper", "vm_deploy", dict(vm_deploy_s3_bucket="My_Bucket", vm_deploy_s3_key="app.tgz"), ["vm_deploy_s3_bucket"]),
    ("vm-s3-bucket-slash", "vm_deploy", dict(vm_deploy_s3_bucket="bucket/../../x", vm_deploy_s3_key="app.tgz"), ["vm_deploy_s3_bucket"]),
    ("vm-s3-key-traversal", "vm_deploy", dict(vm_deploy_s3_bucket="artifacts", vm_deploy_s3_key="a/../../etc/x"),
     ["vm_deploy_s3_key"]),
    ("vm-s3-key-absolute", "vm_deploy", dict(vm_deploy_s3_bucket="artifacts", vm_deploy_s3_key="/etc/passwd"), ["vm_deploy_s3_key"]),
    ("vm-version-shell", "vm_deploy", dict(vm_deploy_version="1.0;id"), ["vm_deploy_version"]),
    ("vm-sha256-short", "vm_deploy", dict(vm_deploy_sha256="abc"), ["vm_deploy_sha256"]),
    # ---- playbook ecs_blue_green.yml: smoke-test and notification URLs
    ("play-webhook-file", "ecs_blue_green.yml", dict(deploy_notify_webhook_url="file:///etc/shadow"),
     ["deploy_notify_webhook_url", "only http"]),
    ("play-webhook-metadata", "ecs_blue_green.yml",
     dict(deploy_notify_webhook_url="http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
     ["deploy_notify_webhook_url", "link-local"]),
    ("play-jira-gopher", "ecs_blue_green.yml", dict(deploy_notify_jira_uri="gopher://jira.example.com"), ["deploy_notify_jira_uri"]),
    ("play-smoke-link-local", "ecs_blue_green.yml", dict(ecs_green_deploy_smoke_base_url="http://169.254.1.1:9000"),
     ["ecs_green_deploy_smoke_base_url"]),
    ("play-pagerduty-ftp", "ecs_blue_green.yml", dict(deploy_notify_pagerduty_client_url="ftp://x.example.com"),
     ["deploy_notify_pagerduty_client_url"]),
]

MODULES = sorted(set(r[1] for r in ROWS if "_" in r[1] and not r[1].endswith(".yml") and r[1] not in ("ecs_validate", "vm_deploy")))


def _key(index):
    return "AKIDBADINPUT%04d%s" % (index, secrets.token_hex(4).upper())


def _inventory(rows, lab, with_vars):
    hosts = {}
    for index, row in rows:
        name = "row_%s" % row[0].replace("-", "_")
        hosts[name] = dict(with_vars(row), ansible_connection="local", ansible_python_interpreter=str(VENV_BIN / "python"),
                           row_id=row[0], row_key=_key(index),
                           row_secret="bad-input-table-secret-%s" % secrets.token_hex(20),
                           aws_endpoint_url=lab.endpoint, aws_region="us-east-1")
    return {"all": {"hosts": hosts}}


def _module_play():
    tasks = []
    for module in MODULES:
        tasks.append({"name": module, "when": "row_entry == '%s'" % module,
                      "progressive.delivery.%s" % module: None, "args": "{{ row_args }}"})
    return _wrap(tasks, "modules")


def _wrap(tasks, name, serial=None):
    play = {
        "name": name, "hosts": "all", "gather_facts": False,
        "module_defaults": {"group/progressive.delivery.aws": {
            "endpoint_url": "{{ aws_endpoint_url }}", "region": "us-east-1",
            "access_key": "{{ row_key }}", "secret_key": "{{ row_secret }}"}},
        "tasks": [{"name": "row", "block": tasks + [
            {"name": "accepted", "ansible.builtin.set_fact": {"row_outcome": {"refused": False}}}],
            "rescue": [{"name": "refused", "ansible.builtin.set_fact": {"row_outcome": {
                "refused": True, "msg": "{{ ansible_failed_result.msg | default(ansible_failed_result | to_json) }}"}}}]},
            {"name": "outcome", "ansible.builtin.debug": {"var": "row_outcome"}}],
    }
    if serial:
        play["serial"] = serial
    return [play]


def _run(tmp, name, plays, inventory, timeout=600):
    import subprocess
    started = time.time()
    play_path = Path(plays) if isinstance(plays, (str, Path)) else tmp / ("%s.yml" % name)
    if not isinstance(plays, (str, Path)):
        play_path.write_text(yaml.safe_dump(plays, sort_keys=False))
    inv = tmp / ("%s-inventory.yml" % name)
    inv.write_text(yaml.safe_dump(inventory, sort_keys=False))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(play_path), "-i", str(inv)], cwd=str(REPO), env=_env(),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("no JSON from ansible-playbook (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    print("bad-input table: %s took %.1f s" % (name, time.time() - started))
    outcomes, keys = {}, {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if task["task"]["name"] == "outcome" and "row_outcome" in res:
                    outcomes[host] = res["row_outcome"]
    for host, hv in inventory["all"]["hosts"].items():
        keys[hv["row_id"]] = (host, hv["row_key"])
    return {row_id: dict(outcomes.get(host, {"refused": None, "msg": "no outcome (host failed outside the row?)"}), key=key)
            for row_id, (host, key) in keys.items()}


@pytest.fixture(scope="module")
def table(lab, tmp_path_factory):
    """Runs every row once; {row id: {refused, msg, key, writes}}."""
    tmp = tmp_path_factory.mktemp("bad-inputs")
    log = Path(lab.state_dir) / "api-requests.jsonl"
    indexed = list(enumerate(ROWS))
    results = {}
    results.update(_run(tmp, "modules", _module_play(), _inventory(
        [(i, r) for i, r in indexed if r[1] in MODULES], lab, lambda r: dict(row_entry=r[1], row_args=r[2]))))
    validate = _wrap([{"name": "validate", "ansible.builtin.include_role": {"name": "progressive.delivery.ecs_validate"}}],
                     "ecs_validate")
    base = dict(ecs_validate_app="myapp", ecs_validate_cluster="prod-ecs-cluster", ecs_validate_prod_listener_port=80,
                ecs_validate_image_tag_pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$", ecs_validate_scan_timeout=10,
                ecs_validate_steps=[{"percent": 50, "watch_seconds": 5}, {"percent": 100, "watch_seconds": 5}])
    results.update(_run(tmp, "ecs_validate", validate, _inventory(
        [(i, r) for i, r in indexed if r[1] == "ecs_validate"], lab, lambda r: dict(base, **r[2]))))
    vm = _wrap([{"name": "verify", "ansible.builtin.include_role": {"name": "progressive.delivery.vm_deploy",
                                                                     "tasks_from": "verify_artifact"}}], "vm_deploy", serial=1)
    package = tmp / "app-1.0.0.tar.gz"
    package.write_bytes(b"not really a tarball")
    vm_base = dict(vm_deploy_version="1.0.0", vm_deploy_artifact=str(package), vm_deploy_controller="{{ inventory_hostname }}")

    def vm_vars(row):
        v = dict(vm_base, **row[2])
        if v.get("vm_deploy_s3_bucket"):
            v["vm_deploy_artifact"] = ""
        return v
    results.update(_run(tmp, "vm_deploy", vm, _inventory([(i, r) for i, r in indexed if r[1] == "vm_deploy"], lab, vm_vars)))
    play_rows = [(i, r) for i, r in indexed if r[1] == "ecs_blue_green.yml"]
    # The playbook's own inputs as ecs_validate's rows have them: the URL check is validation's.
    inventory = _inventory(play_rows, lab, lambda r: dict(base, **dict(r[2], ecs_validate_image_tag="v1.2.3"),
                                                          aws_access_key="{{ row_key }}", aws_secret_key="{{ row_secret }}"))
    results.update(_playbook_rows(tmp, lab, inventory))
    time.sleep(1)   # the lab writes its request log line once the response is sent
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    for outcome in results.values():
        mine = [r for r in records if r.get("key") == outcome["key"]]
        outcome["calls"] = sorted(set(r["action"] for r in mine))
        outcome["writes"] = sorted(set(r["action"] for r in mine if not str(r["action"]).startswith(READ_PREFIXES)))
    return results


def _playbook_rows(tmp, lab, inventory):
    """ecs_blue_green.yml itself, once over every URL row (deploy_controller = all of them); outcome per host from
    the failed task's message."""
    import subprocess
    import os
    inv = tmp / "playbook-inventory.yml"
    inv.write_text(yaml.safe_dump(inventory, sort_keys=False))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(REPO / "playbooks" / "ecs_blue_green.yml"), "-i", str(inv),
                           "-e", "deploy_controller=all", "-e", "deployment_report_enabled=false"],
                          cwd=str(REPO), env=_env(), capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    failed = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if res.get("failed") and host not in failed:
                    failed[host] = res.get("msg", "")
    return {hv["row_id"]: {"refused": host in failed, "msg": failed.get(host, ""), "key": hv["row_key"]}
            for host, hv in inventory["all"]["hosts"].items()}


def _env():
    """ansible-playbook's environment: this repo's config, JSON results, and no AWS credentials but each row's own."""
    import os
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("AWS_") or k in ("AWS_DEFAULT_REGION",))
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_JSON_INDENT="0",
               ANSIBLE_FORKS="8", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", AWS_DEFAULT_REGION="us-east-1",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False", PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    return env


def _param(row):
    marks = [pytest.mark.xfail(strict=False, reason=row[4])] if len(row) > 4 else []
    return pytest.param(row, id=row[0], marks=marks)


def test_the_table_is_large_enough():
    assert len(ROWS) >= 60
    assert len(set(r[0] for r in ROWS)) == len(ROWS)


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_bad_input_is_refused_before_any_write_naming_the_input(table, row):
    outcome = table[row[0]]
    assert outcome["refused"] is True, outcome
    assert outcome["writes"] == [], outcome
    for word in row[3]:
        assert word in outcome["msg"], (word, outcome["msg"])
