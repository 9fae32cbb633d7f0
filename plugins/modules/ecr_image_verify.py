#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_image_verify
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Verify an ECR image before deploying it - exists, digest, manifest, scan findings gate
description:
  - Checks an image in an Amazon ECR repository by tag or digest - that it exists, its digest, size, push time,
    manifest media type and layer count - and returns the reference by digest a task definition should run, so
    what was verified is exactly what gets deployed.
  - With O(tag_pattern), the tag is checked against the pattern first, before any API call.
  - Gates on the image scan - waits for a scan in progress (O(wait_for_scan), within O(scan_timeout)), starts one
    when the image has none (O(start_scan)), counts findings per severity and fails when a finding at or above
    O(fail_on_severity) is not allow-listed in O(allowed_findings).
  - A gate that cannot see a finished scan (none, in progress after the timeout, failed) fails too - a missing
    scan never passes as a clean one. O(fail_on_severity=none) turns the gate off.
  - Read-only - runs the same in check mode and never reports changed. Starting a scan (O(start_scan)) changes
    nothing about the image.
options:
  repository:
    description: Name of the ECR repository.
    type: str
    required: true
  tag:
    description: Image tag. Either this or O(digest).
    type: str
  digest:
    description: Image digest (C(sha256:...)). Either this or O(tag).
    type: str
  registry_id:
    description: Account ID of the registry; defaults to the caller's.
    type: str
  caller_identity:
    description:
      - Also read who is calling (C(sts:GetCallerIdentity)), returned as RV(caller) - so a role needs no separate
        M(amazon.aws.aws_caller_info) start-up.
    type: bool
    default: false
  registry_of_caller_only:
    description:
      - With O(registry_id) set to another account than the caller's, do not read the image at all (no call to that
        registry, no scan started) and return RV(registry_is_callers=false) without a digest, for the caller to refuse
        with its own message. Implies O(caller_identity).
    type: bool
    default: false
  tag_pattern:
    description:
      - Regular expression the whole of O(tag) must match (for example C(^v[0-9]+\.[0-9]+\.[0-9]+$)), checked before any API call.
    type: str
  fail_on_severity:
    description:
      - Fail on findings of this severity or higher (CRITICAL > HIGH > MEDIUM > LOW > INFORMATIONAL > UNDEFINED),
        unless allow-listed. C(none) turns the gate off.
    type: str
    choices: [CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED, none]
    default: HIGH
  allowed_findings:
    description:
      - Findings allowed despite their severity - by name (C(CVE-2024-1234)), vulnerability id or finding ARN.
    type: list
    elements: str
    default: []
  wait_for_scan:
    description: Wait for a scan in progress to finish, up to O(scan_timeout).
    type: bool
    default: true
  scan_timeout:
    description: Seconds to wait for a scan in progress (0-3600).
    type: int
    default: 300
  poll_interval:
    description: Seconds between reads of a scan in progress (1-60).
    type: int
    default: 5
  start_scan:
    description: Start a basic scan (C(StartImageScan)) when the image has no scan yet.
    type: bool
    default: true
attributes:
  check_mode:
    description: Read-only in check mode; an image without a scan gets none started (StartImageScan is a write), with a warning.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
notes:
  - Permissions - C(ecr:DescribeImages), C(ecr:BatchGetImage), C(ecr:DescribeImageScanFindings), C(ecr:StartImageScan) (with O(start_scan)).
  - Basic scanning allows one scan of an image per day; enhanced scanning (Amazon Inspector) scans continuously and its
    C(ACTIVE) status counts as finished.
"""

EXAMPLES = r"""
- name: Verify the release image and get its reference by digest
  progressive.delivery.ecr_image_verify:
    repository: myapp
    tag: "{{ image_tag }}"
    tag_pattern: '^v[0-9]+\.[0-9]+\.[0-9]+$'
    fail_on_severity: HIGH
    allowed_findings:
      - CVE-2023-12345   # accepted, see SEC-42
    scan_timeout: 300
  register: image

- name: Deploy exactly what was verified
  ansible.builtin.debug:
    msg: "{{ image.image_uri }} ({{ image.severity_counts }})"

- name: Only look it up, no gate
  progressive.delivery.ecr_image_verify:
    repository: myapp
    digest: "sha256:4f2ad6f3a6b1c5c9e0d8e2b7d1c3a5f7e9b0a2c4d6e8f0a1b3c5d7e9f1a2b3c4"
    fail_on_severity: none
"""

RETURN = r"""
image_uri:
  description: The image reference by digest (C(<registry>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:...)).
  returned: always
  type: str
  sample: 123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@sha256:4f2ad6f3a6b1c5c9e0d8e2b7d1c3a5f7e9b0a2c4d6e8f0a1b3c5d7e9f1a2b3c4
digest:
  description: The image digest.
  returned: always
  type: str
tag:
  description: The tag asked for, or (by digest) the image's first tag; null for an untagged image.
  returned: always
  type: str
tags:
  description: Every tag of the image.
  returned: always
  type: list
  elements: str
repository:
  description: Repository name.
  returned: always
  type: str
registry_id:
  description: Account ID of the registry.
  returned: always
  type: str
caller:
  description: Who is calling, as C(sts:GetCallerIdentity) answers.
  returned: when O(caller_identity) or O(registry_of_caller_only)
  type: dict
  contains:
    arn:
      description: The caller's ARN.
      type: str
    account:
      description: The caller's account ID.
      type: str
    user_id:
      description: The caller's unique id.
      type: str
registry_is_callers:
  description: Whether O(registry_id) (unset = the caller's) is the caller's account; when false nothing else is returned.
  returned: when O(registry_of_caller_only)
  type: bool
size:
  description: Image size in bytes as ECR reports it.
  returned: always
  type: int
pushed_at:
  description: When the image was pushed (ISO 8601).
  returned: always
  type: str
media_type:
  description: Manifest media type.
  returned: always
  type: str
  sample: application/vnd.docker.distribution.manifest.v2+json
layer_count:
  description: Number of layers in the manifest; null for a multi-platform index.
  returned: always
  type: int
scan_status:
  description: C(COMPLETE), C(ACTIVE), C(IN_PROGRESS), C(FAILED) ..., or null when the image has no scan.
  returned: always
  type: str
scan_started:
  description: Whether this run started the scan.
  returned: always
  type: bool
scan_completed_at:
  description: When the scan finished (ISO 8601).
  returned: when the scan reports it
  type: str
severity_counts:
  description: Number of findings per severity, as the scan reports them.
  returned: always
  type: dict
  sample: {"HIGH": 1, "MEDIUM": 4}
findings_total:
  description: Number of findings listed.
  returned: always
  type: int
blocking_findings:
  description: Findings at or above O(fail_on_severity) that are not allow-listed (id, name, severity, uri, package).
  returned: always
  type: list
  elements: dict
allowed_findings_seen:
  description: Findings at or above O(fail_on_severity) that O(allowed_findings) let through.
  returned: always
  type: list
  elements: dict
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, is_transient_error, jittered_backoff, poll_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import ecr_image as ecrlib

ACCEPTED_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+json",
]
FINISHED = ("COMPLETE", "ACTIVE")
RUNNING = ("IN_PROGRESS", "PENDING")
MAX_FINDING_PAGES = 100
FINDINGS_PAGE_SIZE = 1000


def check_input(module):
    p = module.params
    errors = []
    if p["tag_pattern"] is not None:
        if p["tag"] is None:
            errors.append("tag_pattern checks a tag; give tag (not digest) with it")
        else:
            error = ecrlib.check_tag(p["tag"], p["tag_pattern"])
            if error:
                errors.append(error)
    if p["digest"] is not None:
        error = ecrlib.check_digest(p["digest"])
        if error:
            errors.append(error)
    if not 0 <= p["scan_timeout"] <= 3600:
        errors.append("scan_timeout must be within 0-3600 seconds, got %s" % p["scan_timeout"])
    if not 1 <= p["poll_interval"] <= 60:
        errors.append("poll_interval must be within 1-60 seconds, got %s" % p["poll_interval"])
    if errors:
        module.fail_json(msg="; ".join(errors))


def read_scan(ecr, ident):
    """(status dict, pages) of the image's scan; (None, []) when it has none."""
    # Pages kept apart (build_full_result would keep only the first page's imageScanFindings: it is a
    # non-aggregate key of this paginator as well as the parent of its result keys).
    try:
        found = reads.paginate(ecr, "describe_image_scan_findings", page_size=FINDINGS_PAGE_SIZE,
                               max_items=FINDINGS_PAGE_SIZE * MAX_FINDING_PAGES, keep_pages=True, **ident)
    except is_boto3_error_code("ScanNotFoundException"):
        return None, []
    return (found[0].get("imageScanStatus") or {}) if found else {}, found


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            repository=dict(type="str", required=True),
            tag=dict(type="str"),
            digest=dict(type="str"),
            registry_id=dict(type="str"),
            tag_pattern=dict(type="str"),
            fail_on_severity=dict(type="str", default="HIGH",
                                  choices=["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED", "none"]),
            allowed_findings=dict(type="list", elements="str", default=[]),
            wait_for_scan=dict(type="bool", default=True),
            scan_timeout=dict(type="int", default=300),
            poll_interval=dict(type="int", default=5),
            start_scan=dict(type="bool", default=True),
            caller_identity=dict(type="bool", default=False),
            registry_of_caller_only=dict(type="bool", default=False),
        ),
        required_one_of=[["tag", "digest"]],
        mutually_exclusive=[["tag", "digest"]],
        supports_check_mode=True,
    )
    check_input(module)
    p = module.params
    repo = p["repository"]
    ref = "%s:%s" % (repo, p["tag"]) if p["tag"] else "%s@%s" % (repo, p["digest"])
    base = dict(repositoryName=repo)
    if p["registry_id"]:
        base["registryId"] = p["registry_id"]
    extra = {}
    if p["caller_identity"] or p["registry_of_caller_only"]:
        try:
            who = module.client("sts", retry_decorator=jittered_backoff()).get_caller_identity(aws_retry=True)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="sts:GetCallerIdentity failed; cannot tell who is deploying")
        extra["caller"] = dict(arn=who["Arn"], account=who["Account"], user_id=who.get("UserId"))
    if p["registry_of_caller_only"]:
        extra["registry_is_callers"] = not p["registry_id"] or p["registry_id"] == extra["caller"]["account"]
        if not extra["registry_is_callers"]:
            module.exit_json(changed=False, repository=repo, registry_id=p["registry_id"], **extra)
    ecr = module.client("ecr", retry_decorator=jittered_backoff())
    try:
        try:
            image_id = {"imageTag": p["tag"]} if p["tag"] else {"imageDigest": p["digest"]}
            detail = ecr.describe_images(aws_retry=True, imageIds=[image_id], **base)["imageDetails"][0]
        except is_boto3_error_code("ImageNotFoundException"):
            module.fail_json(msg="image %s not found in ECR%s; push it first or check the tag/digest"
                             % (ref, " registry %s" % p["registry_id"] if p["registry_id"] else ""))
        except is_boto3_error_code("RepositoryNotFoundException"):
            module.fail_json(msg="ECR repository %s not found%s" % (repo, " in registry %s" % p["registry_id"] if p["registry_id"] else ""))
        digest = detail["imageDigest"]
        ident = dict(base, imageId={"imageDigest": digest})
        got = ecr.batch_get_image(aws_retry=True, imageIds=[{"imageDigest": digest}], acceptedMediaTypes=ACCEPTED_MEDIA_TYPES, **base)
        manifest = (got.get("images") or [{}])[0]
        media_type, layer_count = ecrlib.manifest_facts(manifest.get("imageManifest"),
                                                        manifest.get("imageManifestMediaType") or detail.get("imageManifestMediaType"))

        status, pages = read_scan(ecr, ident)
        started = False
        if status is None and p["start_scan"] and module.check_mode:
            module.warn("image %s has no scan; check mode starts none (StartImageScan is a write), a real run would" % ref)
        elif status is None and p["start_scan"]:
            try:
                ecr.start_image_scan(aws_retry=True, **ident)
                started = True
            except is_boto3_error_code("LimitExceededException"):
                pass  # a scan already ran today; read what it left
            status, pages = read_scan(ecr, ident)
        deadline = time.time() + p["scan_timeout"]
        misses = 0
        while (status is not None and status.get("status") in RUNNING and p["wait_for_scan"]
               and time.time() < deadline):
            time.sleep(min(p["poll_interval"], max(0.0, deadline - time.time())))
            try:
                status, pages = read_scan(ecr, ident)
                misses = 0
            except ClientError as e:
                # Throttled or 5xx even after the client's retries: back off and poll again until scan_timeout.
                delay = poll_backoff(misses, p["poll_interval"], deadline - time.time()) if is_transient_error(e) else None
                if delay is None:
                    raise
                misses += 1
                time.sleep(delay)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to verify ECR image %s" % ref)

    findings, counts = ecrlib.normalise_findings(pages) if status and status.get("status") in FINISHED else ([], {})
    threshold = p["fail_on_severity"]
    blocking = ecrlib.blocking_findings(findings, counts, threshold, p["allowed_findings"])
    allowed_seen = []
    if threshold != ecrlib.GATE_OFF:
        allowed_seen = [f for f in findings if ecrlib.severity_rank(f["severity"]) <= ecrlib.severity_rank(threshold)
                        and ecrlib.is_allowed(f, p["allowed_findings"])]
    tags = detail.get("imageTags") or []
    pushed = detail.get("imagePushedAt")
    scan_summary = (pages[0].get("imageScanFindings") or {}) if pages else {}
    completed = scan_summary.get("imageScanCompletedAt")
    result = dict(
        changed=False,
        image_uri=ecrlib.image_uri(detail.get("registryId"), module.region, repo, digest),
        digest=digest,
        tag=p["tag"] or (tags[0] if tags else None),
        tags=tags,
        repository=repo,
        registry_id=detail.get("registryId"),
        size=detail.get("imageSizeInBytes"),
        pushed_at=pushed.isoformat() if hasattr(pushed, "isoformat") else pushed,
        media_type=media_type,
        layer_count=layer_count,
        scan_status=(status or {}).get("status"),
        scan_started=started,
        severity_counts=counts,
        findings_total=len(findings),
        blocking_findings=blocking,
        allowed_findings_seen=allowed_seen,
        **extra
    )
    if completed:
        result["scan_completed_at"] = completed.isoformat() if hasattr(completed, "isoformat") else completed

    scan_state = (status or {}).get("status")
    if threshold != ecrlib.GATE_OFF and scan_state is None and p["start_scan"] and module.check_mode:
        # Check mode starts no scan (a write): the gate is decided by the real run, which starts one.
        result["scan_status"] = "not started (check mode)"
        module.exit_json(**result)
    if threshold != ecrlib.GATE_OFF:
        if scan_state is None:
            module.fail_json(msg="image %s (%s) has no scan findings to gate on; enable scan on push, set start_scan=true, "
                                 "or fail_on_severity=none" % (ref, digest), **result)
        if scan_state in RUNNING:
            module.fail_json(msg="scan of image %s (%s) is still %s after %ss; raise scan_timeout or run again later"
                                 % (ref, digest, scan_state, p["scan_timeout"] if p["wait_for_scan"] else 0), **result)
        if scan_state not in FINISHED:
            module.fail_json(msg="scan of image %s (%s) ended %s: %s; the gate cannot pass without findings"
                                 % (ref, digest, scan_state, status.get("description") or "no description"), **result)
        if blocking:
            module.fail_json(msg="image %s (%s) has %d finding(s) at or above %s that are not allowed: %s; fix them or add them to allowed_findings"
                                 % (ref, digest, len(blocking), threshold, ecrlib.describe_blocking(blocking)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
