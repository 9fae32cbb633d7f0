import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import input_checks as checks


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "https://hooks.example.com/services/T0/B0/xyz",
                                 "http://[::1]:9000/", "https://jira.example.com", ""])
def test_urls_accepted(url):
    assert checks.url_problems("u", url) == []


@pytest.mark.parametrize("url,words", [
    ("file:///etc/passwd", "only http:// and https://"),
    ("ftp://example.com/x", "only http:// and https://"),
    ("gopher://x", "only http:// and https://"),
    ("http://169.254.169.254/latest/meta-data/", "link-local or metadata"),
    ("http://169.254.10.1/", "link-local or metadata"),
    ("http://[fe80::1]/", "link-local or metadata"),
    ("http://[fd00:ec2::254]/", "link-local or metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata service"),
    ("http://100.100.100.200/", "link-local or metadata"),
    ("http:///nohost", "has no host"),
    ("http://exa mple.com", "blanks or control"),
    ("http://example.com/\nX-Injected: 1", "blanks or control"),
    ("http://example.com:99999/", "not a valid URL"),
    ("relative/path", "only http:// and https://"),
])
def test_urls_refused_name_the_input_without_the_path(url, words):
    problems = checks.url_problems("deploy_notify_webhook_url", url)
    assert len(problems) == 1 and problems[0].startswith("deploy_notify_webhook_url") and words in problems[0], problems
    assert "meta-data" not in problems[0] and "computeMetadata" not in problems[0]


def test_link_local_only_when_allowed():
    assert checks.url_problems("u", "http://169.254.169.254/", allow_link_local=True) == []
    assert checks.url_problems("u", "file:///x", allow_link_local=True)


def test_paths():
    assert checks.path_problems("paths", "/health") == []
    for bad in ["health", "//evil.example.com/x", "/x://y", "/a b", "/a\r\nb"]:
        assert checks.path_problems("paths", bad)[0].startswith("paths")


def test_systemd_environment():
    assert checks.systemd_environment_problems({"A": "1", "B_2": 3, "C": "with space and \"quotes\" %"}) == []
    problems = checks.systemd_environment_problems({"X": "a\nExecStartPre=/bin/sh -c evil", "1BAD": "x", "OK": {"a": 1},
                                                    "T": "tab\there"})
    assert len(problems) == 4, problems
    assert all(p.startswith("vm_deploy_systemd_environment") for p in problems)
    assert not any("evil" in p for p in problems)
    assert checks.systemd_environment_problems("A=1")


@pytest.mark.parametrize("bucket,key,bad", [
    ("my-bucket", "app/app-1.2.3.tar.gz", None),
    ("../../etc", "k", "vm_deploy_s3_bucket"),
    ("My_Bucket", "k", "vm_deploy_s3_bucket"),
    ("a", "k", "vm_deploy_s3_bucket"),
    ("a..b", "k", "vm_deploy_s3_bucket"),
    ("192.168.1.1", "k", "vm_deploy_s3_bucket"),
    ("bucket/x", "k", "vm_deploy_s3_bucket"),
    ("ok-bucket", "/abs/key", "vm_deploy_s3_key"),
    ("ok-bucket", "a/../../key", "vm_deploy_s3_key"),
    ("ok-bucket", "dir/", "vm_deploy_s3_key"),
    ("ok-bucket", "a\nb", "vm_deploy_s3_key"),
])
def test_s3_location(bucket, key, bad):
    problems = checks.s3_location_problems(bucket, key)
    if bad is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(bad), problems


def test_deployment_input_problems_name_each_input():
    from ansible_collections.progressive.delivery.plugins.module_utils.input_checks import deployment_input_problems as dip
    pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"
    assert dip("v1.2.3", pattern, "42", "/progressive-delivery/locks/c/app") == []
    for tag in ("", None, "latest", "v1.2.3;id", "../v1.2.3", "v1.2.3\n"):
        problems = dip(tag, pattern, "42", "/locks/app")
        assert len(problems) == 1 and "ecs_validate_image_tag" in problems[0] and pattern in problems[0], (tag, problems)
    assert "ecs_validate_image_tag_pattern" in dip("v1", "(", "42", "/locks/app")[0]
    assert dip("v1", "v1|v2", "42", "/l") == [] and dip("v12", "v1|v2", "42", "/l") != []   # matched in full
    for bad in ("x; rm", "", "a" * 129, None):
        assert [p for p in dip("v1.2.3", pattern, bad, "/l") if p.startswith("ecs_validate_execution_id ")], bad
    for bad in ("/aws/x", "/SSM/x", "locks/x", "/a//b", "/a b", "/" + "a" * 1001, None):
        assert [p for p in dip("v1.2.3", pattern, "42", bad) if p.startswith("ecs_validate_lock_name ")], bad
    assert len(dip("latest", pattern, "x y", "/aws/x")) == 3
    assert dip("latest", pattern, "42", "/l", names={"image_tag": "tag"})[0].endswith(
        "(set tag, or give an ECR push event in ecs_validate_ecr_event)")


def test_lock_ttl_covers_one_step_its_extensions_and_the_green_budget():
    from ansible_collections.progressive.delivery.plugins.module_utils.input_checks import lock_ttl_seconds
    assert lock_ttl_seconds([300, 600, 1800]) == 1800 + 1800 + 300                  # one extension as long as the watch
    assert lock_ttl_seconds([300, 600, 1800], 2, 120) == 1800 + 240 + 300
    assert lock_ttl_seconds([5, 5], 1, 0, 900, 300) == 900 + 300                      # the green budget's floor
    assert lock_ttl_seconds([5, 5], 0, 0, 0, 0) == 5
    assert lock_ttl_seconds([300], override_seconds=77) == 77
    assert lock_ttl_seconds([]) == 900 + 300


def test_deployment_state_problems_in_order_each_naming_what_to_do():
    from ansible_collections.progressive.delivery.plugins.module_utils.input_checks import deployment_state_problems as dsp
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    ready = {"slots": {"a": {"exists": True, "service_name": "app-a"}, "b": {"exists": True, "service_name": "app-b"}},
             "state": "at_rest", "percentages": {"a": 100, "b": 0}, "live_check": {"ok": True, "message": "steady"}}
    image = {"digest": d1, "caller": {"account": "123456789012"}}
    pushed = {"account": "999999999999", "digest": d1, "repository": "app", "image_tag": "v1.2.3", "time": "t", "event_id": "e"}
    assert dsp({}, image, ready, "c", "/l", 100) == []
    assert dsp(pushed, image, ready, "c", "/l", 100) == []
    other = dsp(pushed, dict(image, registry_is_callers=False, digest=None), ready, "c", "/l", 100)
    assert len(other) == 1 and "account 999999999999" in other[0] and "123456789012" in other[0] \
        and "ecs_validate_ecr_account" in other[0]
    assert dsp(pushed, dict(image, registry_is_callers=False), ready, "c", "/l", 100, ecr_account_given=True) == []
    moved = dsp(pushed, dict(image, digest=d2), ready, "c", "/l", 100)
    assert moved == ["app:v1.2.3 now points at %s, not at %s pushed at t (event e): the tag was pushed again since; "
                     "the newer push's event deploys it" % (d2, d1)]
    missing = dict(ready, slots={"a": {"exists": True, "service_name": "app-a"}, "b": {"exists": False, "service_name": "app-b"}})
    assert "both slot services app-a and app-b must exist in c" in dsp({}, image, missing, "c", "/l", 100)[0]
    foreign = dict(ready, state="foreign_in_progress", percentages={"a": 50, "b": 50})
    assert "no slot runs %s: another deployment is in flight" % d1 in dsp({}, image, foreign, "c", "/l", 100)[0]
    held = dict(foreign, lock={"execution_id": "41", "owner": "bob", "digest": d2, "acquired_at": 40})
    assert dsp({}, image, held, "c", "/l", 100)[0].startswith(
        "deployment lock /l is held by execution 41 (bob), deploying %s, held 60s; traffic is split" % d2)
    unsteady = dict(ready, live_check={"ok": False, "message": "live service app-a is not steady: x"})
    assert dsp({}, image, unsteady, "c", "/l", 100) == ["live service app-a is not steady: x"]
    assert dsp({}, image, dict(ready, live_check={"ok": True, "skipped": True}), "c", "/l", 100) == []


def test_release_name_problems_is_the_vm_paths_one_rule():
    from ansible_collections.progressive.delivery.plugins.filter.input_checks import release_name_problems
    from ansible_collections.progressive.delivery.plugins.module_utils import vm_release
    for good in ("v1.2.3", "1.0", "v1.2.3+build.7", "R_2"):
        assert release_name_problems(good, "vm_deploy_version") == [] and vm_release.VERSION_PATTERN.match(good)
    for bad in ("", ".", "..", "-v1", "../x", "v 1", "v1/2", None, 3):
        problems = release_name_problems(bad, "vm_deploy_version")
        assert len(problems) == 1 and problems[0].startswith("vm_deploy_version must be a release name"), bad


def test_an_assumed_role_session_must_outlast_the_longest_work_by_a_minute():
    assert checks.session_problems(None, 5000) == []
    assert checks.session_problems(3600, 900) == []
    assert checks.session_problems(3600, 3539) == []
    (problem,) = checks.session_problems(900, 900)
    assert problem.startswith("aws_assume_role_duration 900 s is too short: the run works up to 900 s in one go")
    assert "MaxSessionDuration" in problem


def test_phases_argument_spec_checks_later_roles_inputs_without_what_the_run_hands_them():
    from ansible_collections.progressive.delivery.plugins.module_utils.input_checks import phases_argument_spec
    own = {"ecs_validate_app": {"type": "str", "required": True}}
    cleanup = {"argument_specs": {"main": {"options": {
        "ecs_cleanup_plan": {"type": "dict", "required": True},
        "ecs_cleanup_hold_seconds": {"type": "int", "default": 1800},
        "ecs_validate_app": {"type": "int"}}}}}
    merged = phases_argument_spec(own, [cleanup, {"argument_specs": {"other": {}}}, None])
    assert merged == {"ecs_validate_app": {"type": "str", "required": True},          # its own kept as it is, first
                      "ecs_cleanup_plan": {"type": "dict"},                            # required by the later role: not now
                      "ecs_cleanup_hold_seconds": {"type": "int", "default": 1800}}
    assert own == {"ecs_validate_app": {"type": "str", "required": True}}              # not changed in place
    assert phases_argument_spec(None, None) == {}


def test_phases_argument_spec_refuses_a_later_roles_bad_input_through_ansibles_validator():
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.progressive.delivery.plugins.module_utils.input_checks import phases_argument_spec
    spec = phases_argument_spec({}, [{"argument_specs": {"main": {"options": {
        "ecs_cleanup_plan": {"type": "dict", "required": True}, "ecs_cleanup_hold_seconds": {"type": "int"}}}}}])
    result = ArgumentSpecValidator(spec).validate({"ecs_cleanup_hold_seconds": "soon"})
    assert any("ecs_cleanup_hold_seconds" in m for m in result.error_messages), result.error_messages
    assert not ArgumentSpecValidator(spec).validate({"ecs_cleanup_hold_seconds": "60"}).error_messages


def _options(options, where):
    """Every option of an argument spec, its suboptions included, as (where, option)."""
    for name, option in (options or {}).items():
        yield "%s %s" % (where, name), option
        for found in _options(option.get("options"), "%s %s" % (where, name)):
            yield found


def _role_options():
    import pathlib
    import yaml
    root = pathlib.Path(__file__).resolve().parents[4]
    for path in sorted(root.glob("roles/*/meta/argument_specs.yml")):
        for entry, spec in (yaml.safe_load(path.read_text())["argument_specs"] or {}).items():
            for found in _options((spec or {}).get("options"), "%s %s" % (path.parts[-3], entry)):
                yield found


def test_no_secret_input_can_be_echoed_by_ansibles_argument_spec_check():
    """validate_argument_spec (validation's first task, and each role's own check) does not mask no_log values in
    its errors: a bad int or a value outside `choices` is quoted back ("got: <value>"). A str without choices takes
    any value (a dict is converted), so it is never quoted. Checked against Ansible's validator, then every role."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    leaky = ArgumentSpecValidator({"n": {"type": "int", "no_log": True}, "c": {"choices": ["a"], "no_log": True}})
    assert "SECRET" in " ".join(leaky.validate({"n": "SECRET1", "c": "SECRET2"}).error_messages)
    safe = ArgumentSpecValidator({"t": {"type": "str", "no_log": True}})
    assert not safe.validate({"t": {"SECRET": 1}}).error_messages
    secrets = [(where, o) for where, o in _role_options() if o.get("no_log")]
    assert len(secrets) >= 6, secrets                                                  # the notify tokens at least
    assert [where for where, o in secrets if o.get("type", "str") != "str" or "choices" in o] == []
