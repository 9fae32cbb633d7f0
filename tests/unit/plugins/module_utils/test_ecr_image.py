import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import ecr_image as e

DIGEST = "sha256:" + "ab" * 32


def test_check_tag_matches_the_whole_tag():
    assert e.check_tag("v1.2.3", r"^v[0-9]+\.[0-9]+\.[0-9]+$") is None
    assert e.check_tag("v1.2.3", r"v[0-9]+\.[0-9]+\.[0-9]+") is None
    # a pattern without anchors still has to cover the whole tag
    assert e.check_tag("v1.2.3-dirty", r"v[0-9]+\.[0-9]+\.[0-9]+") == \
        "image tag 'v1.2.3-dirty' does not match tag_pattern 'v[0-9]+\\\\.[0-9]+\\\\.[0-9]+'"
    assert "does not match" in e.check_tag("latest", r"^v[0-9]+$")


def test_check_tag_reports_a_broken_pattern():
    assert e.check_tag("v1", "v(").startswith("tag_pattern 'v(' is not a valid regular expression")


def test_check_digest():
    assert e.check_digest(DIGEST) is None
    for bad in ("sha256:abc", "ab" * 32, DIGEST.upper(), None, "sha512:" + "a" * 64):
        assert e.check_digest(bad).startswith("digest must be sha256:<64 lowercase hex digits>")


def test_severity_order_and_aliases():
    ranks = [e.severity_rank(s) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 6
    assert e.severity_rank("high") == e.severity_rank("HIGH")
    assert e.severity_name("UNTRIAGED") == "UNDEFINED"
    assert e.severity_name("WHATEVER") == "UNDEFINED"
    assert e.check_threshold("none") is None and e.check_threshold("low") is None
    assert "fail_on_severity must be one of" in e.check_threshold("SEVERE")


def test_image_uri_by_digest():
    assert e.image_uri("123456789012", "us-east-1", "team/myapp", DIGEST) == \
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/myapp@" + DIGEST
    assert e.image_uri("1", "cn-north-1", "r", DIGEST).startswith("1.dkr.ecr.cn-north-1.amazonaws.com.cn/r@")


def test_manifest_facts():
    v2 = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
          "config": {"digest": "sha256:c", "size": 7}, "layers": [{"digest": "sha256:1"}, {"digest": "sha256:2"}]}
    assert e.manifest_facts(json.dumps(v2)) == ("application/vnd.docker.distribution.manifest.v2+json", 2)
    # the API's media type wins over the manifest's
    assert e.manifest_facts(v2, "application/vnd.oci.image.manifest.v1+json") == ("application/vnd.oci.image.manifest.v1+json", 2)
    index = {"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{"digest": "sha256:1"}]}
    assert e.manifest_facts(index) == ("application/vnd.oci.image.index.v1+json", None)
    assert e.manifest_facts({"schemaVersion": 1, "fsLayers": [{}, {}, {}]}, "x") == ("x", 3)
    assert e.manifest_facts("not json", "y") == ("y", None)
    assert e.manifest_facts(None) == (None, None)


def basic_page(findings, counts=None, token=None):
    page = {"imageScanStatus": {"status": "COMPLETE"}, "imageScanFindings": {"findings": findings}}
    if counts is not None:
        page["imageScanFindings"]["findingSeverityCounts"] = counts
    if token:
        page["nextToken"] = token
    return page


def finding(name, severity, package="pkg"):
    return {"name": name, "severity": severity, "uri": "https://cve/" + name,
            "attributes": [{"key": "package_name", "value": package}, {"key": "package_version", "value": "1"}]}


def test_normalise_findings_across_pages_basic_and_enhanced():
    pages = [
        basic_page([finding("CVE-1", "HIGH", "openssl")], {"HIGH": 1, "CRITICAL": 1, "UNTRIAGED": 2}, token="t"),
        {"imageScanFindings": {"enhancedFindings": [{
            "findingArn": "arn:aws:inspector2:us-east-1:1:finding/f1", "severity": "CRITICAL", "title": "CVE-2 - libc",
            "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2", "sourceUrl": "https://nvd/CVE-2",
                                            "vulnerablePackages": [{"name": "libc"}]}}]}},
    ]
    findings, counts = e.normalise_findings(pages)
    assert counts == {"HIGH": 1, "CRITICAL": 1, "UNDEFINED": 2}  # the first page's summary; UNTRIAGED folded in
    assert findings[0] == {"id": "CVE-1", "name": "CVE-1", "severity": "HIGH", "uri": "https://cve/CVE-1", "package": "openssl"}
    assert findings[1]["id"] == "CVE-2" and findings[1]["name"] == "CVE-2 - libc"
    assert findings[1]["arn"] == "arn:aws:inspector2:us-east-1:1:finding/f1"
    assert findings[1]["severity"] == "CRITICAL" and findings[1]["package"] == "libc"


def test_normalise_findings_counts_from_findings_without_summary():
    findings, counts = e.normalise_findings([basic_page([finding("a", "LOW"), finding("b", "LOW"), finding("c", "HIGH")])])
    assert counts == {"LOW": 2, "HIGH": 1}
    assert e.normalise_findings([]) == ([], {})


def gate(findings, counts, threshold, allowed=()):
    normalised, _ = e.normalise_findings([basic_page(findings)])
    return e.blocking_findings(normalised, counts, threshold, list(allowed))


def test_gate_blocks_at_or_above_threshold():
    fs = [finding("CVE-C", "CRITICAL"), finding("CVE-H", "HIGH"), finding("CVE-M", "MEDIUM")]
    counts = {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1}
    assert [f["name"] for f in gate(fs, counts, "HIGH")] == ["CVE-C", "CVE-H"]
    assert [f["name"] for f in gate(fs, counts, "CRITICAL")] == ["CVE-C"]
    assert [f["name"] for f in gate(fs, counts, "MEDIUM")] == ["CVE-C", "CVE-H", "CVE-M"]
    assert gate(fs, counts, "none") == []


def test_gate_allow_list_by_name_or_arn():
    fs = [finding("CVE-C", "CRITICAL"), finding("CVE-H", "HIGH")]
    assert [f["name"] for f in gate(fs, {"CRITICAL": 1, "HIGH": 1}, "HIGH", ["CVE-H"])] == ["CVE-C"]
    assert gate(fs, {"CRITICAL": 1, "HIGH": 1}, "HIGH", ["CVE-H", "CVE-C"]) == []
    enhanced = [{"id": "CVE-9", "name": "CVE-9 - x", "arn": "arn:f9", "severity": "HIGH", "uri": None, "package": None}]
    assert e.blocking_findings(enhanced, {"HIGH": 1}, "HIGH", ["arn:f9"]) == []
    assert e.blocking_findings(enhanced, {"HIGH": 1}, "HIGH", ["CVE-9"]) == []
    assert len(e.blocking_findings(enhanced, {"HIGH": 1}, "HIGH", ["CVE-10"])) == 1


def test_gate_counts_unlisted_findings_as_blocking():
    blocking = gate([finding("CVE-H", "HIGH")], {"HIGH": 3, "LOW": 7}, "HIGH", ["CVE-H"])
    assert blocking == [{"id": None, "name": "2 unlisted HIGH finding(s)", "severity": "HIGH", "uri": None,
                         "package": None, "count": 2}]
    assert gate([], {"LOW": 7}, "HIGH") == []


def test_describe_blocking_is_one_bounded_line():
    blocking = [{"name": "CVE-%d" % i, "severity": "HIGH", "package": "p"} for i in range(12)]
    line = e.describe_blocking(blocking, limit=2)
    assert line == "CVE-0 (HIGH, p), CVE-1 (HIGH, p) and 10 more"
    assert e.describe_blocking([{"name": "x", "severity": "LOW", "package": None}]) == "x (LOW)"


@pytest.mark.parametrize("threshold", ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"])
def test_every_threshold_blocks_its_own_severity_and_not_lower(threshold):
    index = e.SEVERITIES.index(threshold)
    fs = [finding("F-" + s, s) for s in e.SEVERITIES]
    counts = dict((s, 1) for s in e.SEVERITIES)
    assert [f["severity"] for f in gate(fs, counts, threshold)] == list(e.SEVERITIES[:index + 1])
