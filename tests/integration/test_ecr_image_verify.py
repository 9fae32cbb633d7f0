"""ecr_image_verify through ansible-playbook against a bare moto server."""
import json
import time
import urllib.request

import pytest

from harness import localhost_play, run_playbook

LAYERS = [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100 + i,
           "digest": "sha256:" + ("%d" % i) * 64} for i in range(3)]
MANIFEST = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": "sha256:" + "c" * 64},
            "layers": LAYERS}


@pytest.fixture
def image(moto):
    """Repository `myapp` with image v1.2.3 (a v2 manifest of three layers)."""
    ecr = moto.client("ecr")
    ecr.create_repository(repositoryName="myapp")
    pushed = ecr.put_image(repositoryName="myapp", imageTag="v1.2.3", imageManifest=json.dumps(MANIFEST))["image"]
    return dict(ecr=ecr, digest=pushed["imageId"]["imageDigest"])


def set_scan_result(moto, tag, status="COMPLETE", findings=(), counts=None):
    """Make moto answer describe_image_scan_findings for myapp:<tag> with this scan."""
    result = {"registryId": "123456789012", "repositoryName": "myapp", "imageId": {"imageTag": tag},
              "imageScanStatus": {"status": status, "description": "set by the test"},
              "imageScanFindings": {"findings": list(findings), "findingSeverityCounts": counts or {}}}
    body = json.dumps({"results": [result], "region": "us-east-1"}).encode()
    request = urllib.request.Request(moto.url + "/moto-api/static/ecr/scan-finding-results", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


def finding(name, severity):
    return {"name": name, "severity": severity, "uri": "https://cve.example/" + name,
            "attributes": [{"key": "package_name", "value": "pkg-" + name.lower()}]}


def verify(name, **args):
    return {"name": name, "progressive.delivery.ecr_image_verify": dict({"repository": "myapp"}, **args),
            "register": name.replace(" ", "_"), "ignore_errors": True}


def test_facts_gate_and_allow_list_with_moto_default_finding(moto, image):
    play = localhost_play([
        verify("gate", tag="v1.2.3", tag_pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$"),
        verify("allowed", tag="v1.2.3", allowed_findings=["CVE-9999-9999"]),
        verify("by digest", digest=image["digest"], fail_on_severity="CRITICAL"),
    ], moto.url)
    result = run_playbook(play)
    gate = result.task("gate")
    assert gate["failed"] is True
    assert gate["msg"].startswith("image myapp:v1.2.3 (%s) has 1 finding(s) at or above HIGH that are not allowed: "
                                  "CVE-9999-9999 (HIGH, moto_fake)" % image["digest"]), gate["msg"]
    assert gate["scan_started"] is True and gate["scan_status"] == "COMPLETE"
    assert [f["name"] for f in gate["blocking_findings"]] == ["CVE-9999-9999"]

    ok = result.task("allowed")
    assert not ok.get("failed"), ok
    assert ok["changed"] is False
    assert ok["digest"] == image["digest"]
    assert ok["image_uri"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@" + image["digest"]
    assert ok["tag"] == "v1.2.3" and ok["tags"] == ["v1.2.3"]
    assert ok["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert ok["layer_count"] == 3
    assert ok["size"] == 7023  # moto reports the config blob's size
    assert ok["pushed_at"][:4] == time.strftime("%Y", time.gmtime())
    assert ok["severity_counts"] == {"HIGH": 1}
    assert ok["blocking_findings"] == []
    assert [f["name"] for f in ok["allowed_findings_seen"]] == ["CVE-9999-9999"]
    assert ok["scan_started"] is False  # the first task's scan is there

    by_digest = result.task("by digest")
    assert not by_digest.get("failed"), by_digest
    assert by_digest["tag"] == "v1.2.3" and by_digest["image_uri"] == ok["image_uri"]


def test_check_mode_starts_no_scan(moto, image):
    """StartImageScan is a write: check mode reads what is there and leaves the gate to the real run (issue 15)."""
    result = run_playbook(localhost_play([verify("check", tag="v1.2.3", fail_on_severity="CRITICAL")], moto.url), check=True)
    res = result.task("check")
    assert not res.get("failed"), res
    assert res["changed"] is False and res["digest"] == image["digest"]
    assert res["scan_started"] is False and res["scan_status"] == "not started (check mode)"
    assert any("check mode starts none" in w for w in res.get("warnings", [])), res
    ecr = moto.client("ecr")
    with pytest.raises(ecr.exceptions.ScanNotFoundException):
        ecr.describe_image_scan_findings(repositoryName="myapp", imageId={"imageDigest": image["digest"]})

    # The real run starts the scan and gates on it.
    real = run_playbook(localhost_play([verify("real", tag="v1.2.3", fail_on_severity="CRITICAL")], moto.url))
    assert real.task("real")["scan_started"] is True and real.task("real")["severity_counts"] == {"HIGH": 1}


def test_custom_findings_severity_threshold(moto, image):
    set_scan_result(moto, "v1.2.3", findings=[finding("CVE-CRIT", "CRITICAL"), finding("CVE-MED-1", "MEDIUM"),
                                              finding("CVE-MED-2", "MEDIUM")],
                    counts={"CRITICAL": 1, "MEDIUM": 2})
    play = localhost_play([
        verify("medium", tag="v1.2.3", fail_on_severity="MEDIUM", allowed_findings=["CVE-MED-1"]),
        verify("critical allowed", tag="v1.2.3", fail_on_severity="CRITICAL", allowed_findings=["CVE-CRIT"]),
        verify("high", tag="v1.2.3"),
    ], moto.url)
    result = run_playbook(play)
    medium = result.task("medium")
    assert medium["failed"] is True
    assert [f["name"] for f in medium["blocking_findings"]] == ["CVE-CRIT", "CVE-MED-2"]
    assert "has 2 finding(s) at or above MEDIUM" in medium["msg"]
    assert medium["severity_counts"] == {"CRITICAL": 1, "MEDIUM": 2}
    assert not result.task("critical allowed").get("failed"), result.task("critical allowed")
    high = result.task("high")
    assert high["failed"] is True and [f["name"] for f in high["blocking_findings"]] == ["CVE-CRIT"]


def test_scan_in_progress_waits_within_the_timeout_then_fails(moto, image):
    set_scan_result(moto, "v1.2.3", status="IN_PROGRESS")
    play = localhost_play([
        verify("waits", tag="v1.2.3", scan_timeout=2, poll_interval=1),
        verify("no wait", tag="v1.2.3", wait_for_scan=False),
        verify("gate off", tag="v1.2.3", fail_on_severity="none", wait_for_scan=False),
    ], moto.url)
    started = time.time()
    result = run_playbook(play)
    waits = result.task("waits")
    assert waits["failed"] is True
    assert "scan of image myapp:v1.2.3 (%s) is still IN_PROGRESS after 2s" % image["digest"] in waits["msg"]
    assert "still IN_PROGRESS after 0s" in result.task("no wait")["msg"]
    off = result.task("gate off")
    assert not off.get("failed") and off["scan_status"] == "IN_PROGRESS" and off["severity_counts"] == {}
    assert time.time() - started < 60


def test_failed_scan_fails_the_gate(moto, image):
    set_scan_result(moto, "v1.2.3", status="FAILED")
    result = run_playbook(localhost_play([verify("failed scan", tag="v1.2.3")], moto.url))
    assert "ended FAILED: set by the test; the gate cannot pass without findings" in result.task("failed scan")["msg"]


def test_no_scan_without_start_scan(moto, image):
    play = localhost_play([
        verify("no scan", tag="v1.2.3", start_scan=False),
        verify("no scan no gate", tag="v1.2.3", start_scan=False, fail_on_severity="none"),
    ], moto.url)
    result = run_playbook(play)
    assert "has no scan findings to gate on" in result.task("no scan")["msg"]
    nogate = result.task("no scan no gate")
    assert not nogate.get("failed") and nogate["scan_status"] is None and nogate["scan_started"] is False


def test_missing_image_and_repository(moto, image):
    play = localhost_play([
        verify("missing tag", tag="v9.9.9"),
        verify("missing repo", repository="nope", tag="v1.2.3"),
    ], moto.url)
    result = run_playbook(play)
    assert result.task("missing tag")["msg"].startswith("image myapp:v9.9.9 not found in ECR")
    assert result.task("missing repo")["msg"].startswith("ECR repository nope not found")


def test_bad_input_is_refused_before_any_api_call():
    # Port 9 on loopback has nothing listening: any API call would fail with a connection error instead.
    dead = "http://127.0.0.1:9"
    play = localhost_play([
        verify("pattern", tag="latest", tag_pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$"),
        verify("broken pattern", tag="v1", tag_pattern="v("),
        verify("digest", digest="sha256:123"),
        verify("pattern with digest", digest="sha256:" + "a" * 64, tag_pattern="v.*"),
        verify("timeout", tag="v1", scan_timeout=-1),
    ], dead)
    result = run_playbook(play)
    assert result.task("pattern")["msg"] == "image tag 'latest' does not match tag_pattern '^v[0-9]+\\\\.[0-9]+\\\\.[0-9]+$'"
    assert "tag_pattern 'v(' is not a valid regular expression" in result.task("broken pattern")["msg"]
    assert "digest must be sha256:<64 lowercase hex digits>, got 'sha256:123'" in result.task("digest")["msg"]
    assert "tag_pattern checks a tag" in result.task("pattern with digest")["msg"]
    assert "scan_timeout must be within 0-3600 seconds, got -1" in result.task("timeout")["msg"]
