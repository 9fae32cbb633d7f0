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


def test_release_name_problems_is_the_vm_paths_one_rule():
    from ansible_collections.progressive.delivery.plugins.filter.input_checks import release_name_problems
    from ansible_collections.progressive.delivery.plugins.module_utils import vm_release
    for good in ("v1.2.3", "1.0", "v1.2.3+build.7", "R_2"):
        assert release_name_problems(good, "vm_deploy_version") == [] and vm_release.VERSION_PATTERN.match(good)
    for bad in ("", ".", "..", "-v1", "../x", "v 1", "v1/2", None, 3):
        problems = release_name_problems(bad, "vm_deploy_version")
        assert len(problems) == 1 and problems[0].startswith("vm_deploy_version must be a release name"), bad
