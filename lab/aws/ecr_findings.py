"""ECR scan findings per image, answered for the tag AND the digest of the image.

moto's static scan-finding results are keyed by the exact imageId a caller sends, so a result set up for
a tag is not returned when the same image is asked for by digest (and a second caller gets moto's default
HIGH finding). The lab keeps findings per (repository, digest) and answers every lookup of that image.
"""
import hashlib
from datetime import datetime, timezone

from moto.ecr import models as ecr_models

FINDINGS = {}   # (account, region, repository, digest) -> {"severity": count}


def set_findings(account_id, region, repository, digest, severity_counts):
    FINDINGS[(account_id, region, repository, digest)] = dict(severity_counts or {})


def reset():
    FINDINGS.clear()


def findings_list(repository, tag, severity_counts):
    out = []
    for severity, count in sorted(severity_counts.items()):
        for i in range(int(count)):
            cve = "CVE-2026-%05d" % (int(hashlib.sha256(("%s:%s:%s:%d" % (repository, tag, severity, i)).encode())
                                         .hexdigest()[:8], 16) % 100000)
            out.append({"name": cve, "uri": "https://cve.mitre.org/cgi-bin/cvename.cgi?name=%s" % cve,
                        "severity": severity,
                        "attributes": [{"key": "package_name", "value": "lab-%s-pkg-%d" % (severity.lower(), i)},
                                       {"key": "package_version", "value": "1.0.%d" % i}]})
    return out


def install():
    backend_cls = ecr_models.ECRBackend
    if getattr(backend_cls, "_lab_findings", False):
        return
    backend_cls._lab_findings = True
    original = backend_cls.describe_image_scan_findings

    def describe_image_scan_findings(self, registry_id, repository_name, image_id):
        repo = self._get_repository(repository_name, registry_id)
        image = repo._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
        key = (self.account_id, self.region_name, repository_name, image.image_digest)
        if key not in FINDINGS:
            return original(self, registry_id, repository_name, image_id)
        counts = FINDINGS[key]
        now = datetime.now(timezone.utc)
        return {
            "registryId": repo.registry_id,
            "repositoryName": repository_name,
            "imageId": {"imageDigest": image.image_digest, "imageTag": image.image_tag},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {
                "imageScanCompletedAt": now,
                "vulnerabilitySourceUpdatedAt": now,
                "findings": findings_list(repository_name, image.image_tag, counts),
                "findingSeverityCounts": {k: int(v) for k, v in counts.items() if int(v)},
            },
        }

    backend_cls.describe_image_scan_findings = describe_image_scan_findings
