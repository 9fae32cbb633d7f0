# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ECR image facts and the scan-findings gate.

Pure functions, no AWS: the ecr_image_verify module fetches, these decide.
"""

import json
import re

# An image digest: the one pattern of the collection (task definitions, slots, ECR).
DIGEST = r"sha256:[0-9a-f]{64}"
DIGEST_RE = re.compile(r"^%s$" % DIGEST)
_IMAGE_DIGEST_RE = re.compile(r"@(%s)$" % DIGEST)
# Highest first. Enhanced scanning's UNTRIAGED ranks with UNDEFINED.
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
SEVERITY_ALIASES = {"UNTRIAGED": "UNDEFINED"}
GATE_OFF = "none"
INDEX_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)


def check_tag(tag, pattern):
    """None when `tag` matches `pattern` in full, else the error (also for a pattern that is no regex)."""
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        return "tag_pattern %r is not a valid regular expression: %s" % (pattern, e)
    if compiled.fullmatch(tag) is None:
        return "image tag %r does not match tag_pattern %r" % (tag, pattern)
    return None


def image_digest(image):
    """`repo@sha256:...` -> `sha256:...`; None for a tag reference."""
    match = _IMAGE_DIGEST_RE.search(image or "")
    return match.group(1) if match else None


def check_digest(digest):
    if not DIGEST_RE.match(digest or ""):
        return "digest must be sha256:<64 lowercase hex digits>, got %r" % (digest,)
    return None


def severity_rank(severity):
    """0 for CRITICAL ... 5 for UNDEFINED (unknown names rank as UNDEFINED)."""
    name = SEVERITY_ALIASES.get(str(severity).upper(), str(severity).upper())
    return SEVERITIES.index(name) if name in SEVERITIES else len(SEVERITIES) - 1


def severity_name(severity):
    return SEVERITIES[severity_rank(severity)]


def check_threshold(threshold):
    if threshold == GATE_OFF or str(threshold).upper() in SEVERITIES:
        return None
    return "fail_on_severity must be one of %s or %s, got %r" % (", ".join(SEVERITIES), GATE_OFF, threshold)


def registry_host(registry_id, region):
    suffix = "amazonaws.com.cn" if str(region).startswith("cn-") else "amazonaws.com"
    return "%s.dkr.ecr.%s.%s" % (registry_id, region, suffix)


def image_uri(registry_id, region, repository, digest):
    """The reference by digest a task definition should run: `<registry>/<repo>@sha256:...`."""
    return "%s/%s@%s" % (registry_host(registry_id, region), repository, digest)


def manifest_facts(manifest, media_type=None):
    """(media type, layer count) from an image manifest (JSON text or dict).

    The media type is the API's when given, else the manifest's own. An index (multi-platform
    manifest list) has no layers of its own: its layer count is None.
    """
    if isinstance(manifest, str):
        try:
            manifest = json.loads(manifest)
        except ValueError:
            manifest = {}
    manifest = manifest or {}
    kind = media_type or manifest.get("mediaType")
    if kind in INDEX_MEDIA_TYPES or ("manifests" in manifest and "layers" not in manifest):
        return kind, None
    layers = manifest.get("layers")
    if layers is None:
        layers = manifest.get("fsLayers")  # schema 1
    return kind, (len(layers) if isinstance(layers, list) else None)


def normalise_findings(pages):
    """Every finding of describe_image_scan_findings pages (basic and enhanced) as
    {id, name, severity, uri, package}; and the severity counts the API reports (summed from the
    findings when it reports none)."""
    findings = []
    counts = None
    for page in pages:
        scan = page.get("imageScanFindings") or {}
        if counts is None and scan.get("findingSeverityCounts") is not None:
            counts = dict(scan["findingSeverityCounts"])
        for finding in scan.get("findings") or []:
            attributes = dict((a.get("key"), a.get("value")) for a in finding.get("attributes") or [])
            findings.append(dict(id=finding.get("name"), name=finding.get("name"),
                                 severity=severity_name(finding.get("severity", "UNDEFINED")),
                                 uri=finding.get("uri"), package=attributes.get("package_name")))
        for finding in scan.get("enhancedFindings") or []:
            details = finding.get("packageVulnerabilityDetails") or {}
            packages = details.get("vulnerablePackages") or [{}]
            findings.append(dict(id=details.get("vulnerabilityId") or finding.get("findingArn"),
                                 name=finding.get("title") or details.get("vulnerabilityId"),
                                 arn=finding.get("findingArn"),
                                 severity=severity_name(finding.get("severity", "UNDEFINED")),
                                 uri=details.get("sourceUrl"), package=packages[0].get("name")))
    if counts is None:
        counts = {}
        for finding in findings:
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    merged = {}
    for severity, count in counts.items():
        name = severity_name(severity)
        merged[name] = merged.get(name, 0) + int(count)
    return findings, merged


def is_allowed(finding, allowed):
    keys = set(str(k) for k in (finding.get("id"), finding.get("name"), finding.get("arn")) if k)
    return bool(keys & set(allowed))


def blocking_findings(findings, counts, threshold, allowed):
    """Findings at or above `threshold` that are not allow-listed (by id, name or ARN).

    When the counts report more findings of a blocking severity than the listed findings show,
    the unlisted rest blocks too (they cannot be allow-listed unseen).
    """
    if threshold == GATE_OFF:
        return []
    limit = severity_rank(threshold)
    allowed = [str(a) for a in allowed or []]
    blocking = [f for f in findings if severity_rank(f["severity"]) <= limit and not is_allowed(f, allowed)]
    for severity in SEVERITIES[:limit + 1]:
        listed = sum(1 for f in findings if f["severity"] == severity)
        unlisted = counts.get(severity, 0) - listed
        if unlisted > 0:
            blocking.append(dict(id=None, name="%d unlisted %s finding(s)" % (unlisted, severity), severity=severity,
                                 uri=None, package=None, count=unlisted))
    return blocking


def describe_blocking(blocking, limit=10):
    """One line naming the blocking findings (the first `limit`)."""
    shown = ["%s (%s%s)" % (f["name"], f["severity"], ", " + f["package"] if f.get("package") else "") for f in blocking[:limit]]
    more = len(blocking) - limit
    return ", ".join(shown) + (" and %d more" % more if more > 0 else "")
