# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Blue-green slots: which slot is live and where a deployment stands, from what AWS says now.

Pure functions, no AWS: the ecs_slot_info module fetches, these decide. DESIGN §1 "Slots
instead of renames": the slot the production listener sends all weight to is live; mid-shift,
the candidate is the slot whose service runs the digest being deployed.
"""

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn

from ansible_collections.progressive.delivery.plugins.module_utils import ecr_image
from ansible_collections.progressive.delivery.plugins.module_utils import weights as wlib

SLOT_NAMES = ("a", "b")

# Where a deployment of `digest` stands (the `state` of slot_state()).
AT_REST = "at_rest"                  # one slot has all the weight and does not run the digest: start a deployment
IN_PROGRESS = "in_progress"          # the candidate runs the digest (weights anywhere below 100 %): resume
DEPLOYED = "deployed"                # the live slot (100 %) already runs the digest: nothing to do
FOREIGN = "foreign_in_progress"      # weight is split and no slot runs the digest: another deployment is in flight


# `repo@sha256:...` -> `sha256:...`; None for a tag reference.
image_digest = ecr_image.image_digest
# {target_group_arn: weight} of the forward action among a listener's or rule's actions (a plain forward is 100).
forward_weights = wlib.forward_weights


def slot_percentages(weights, slot_target_groups):
    """Per slot, the share of traffic (0-100, rounded) the weights send to its target group."""
    total = sum(weights.values())
    shares = {}
    for slot, arn in slot_target_groups.items():
        weight = weights.get(arn, 0)
        shares[slot] = int(round(100.0 * weight / total)) if total else 0
    return shares


def other_slot(slot):
    return SLOT_NAMES[1] if slot == SLOT_NAMES[0] else SLOT_NAMES[0]


def slot_state(percentages, slot_digests, digest=None):
    """Decide live slot, candidate slot, the candidate's current percent and the state.

    percentages: {slot: percent of production traffic}; slot_digests: {slot: digest the
    slot's service runs, or None}; digest: the digest being deployed (None = just looking).
    """
    full = [s for s in SLOT_NAMES if percentages.get(s, 0) >= 100]
    if full:
        live = full[0]
        candidate = other_slot(live)
        if digest and slot_digests.get(live) == digest:
            return dict(live_slot=live, candidate_slot=candidate, candidate_percent=0, state=DEPLOYED)
        if digest and slot_digests.get(candidate) == digest:
            # Digest already on the idle slot with no traffic: a deployment that stopped before
            # (or right after) its first shift, or one rolled back. Resume from 0 %.
            return dict(live_slot=live, candidate_slot=candidate, candidate_percent=0, state=IN_PROGRESS)
        return dict(live_slot=live, candidate_slot=candidate, candidate_percent=0, state=AT_REST)

    carrying = [s for s in SLOT_NAMES if percentages.get(s, 0) > 0]
    if not carrying:
        return dict(live_slot=None, candidate_slot=None, candidate_percent=0, state=FOREIGN)
    if digest:
        for candidate in SLOT_NAMES:
            if slot_digests.get(candidate) == digest and slot_digests.get(other_slot(candidate)) != digest:
                return dict(live_slot=other_slot(candidate), candidate_slot=candidate,
                            candidate_percent=percentages.get(candidate, 0), state=IN_PROGRESS)
    # Split weights and nothing runs our digest: the slot with more weight counts as live.
    live = max(SLOT_NAMES, key=lambda s: percentages.get(s, 0))
    candidate = other_slot(live)
    return dict(live_slot=live, candidate_slot=candidate, candidate_percent=percentages.get(candidate, 0), state=FOREIGN)


HEALTH_CHECK_KEYS = (("HealthCheckEnabled", "health_check_enabled"), ("HealthCheckProtocol", "health_check_protocol"),
                     ("HealthCheckPath", "health_check_path"), ("HealthCheckPort", "health_check_port"),
                     ("HealthCheckIntervalSeconds", "health_check_interval_seconds"),
                     ("HealthCheckTimeoutSeconds", "health_check_timeout_seconds"),
                     ("HealthyThresholdCount", "healthy_threshold_count"),
                     ("UnhealthyThresholdCount", "unhealthy_threshold_count"))


def health_check(target_group):
    """A DescribeTargetGroups entry's health check, snake_cased (keys absent from the entry are left out); the matcher
    as {http_code} / {grpc_code}."""
    found = dict((snake, target_group[key]) for key, snake in HEALTH_CHECK_KEYS if key in target_group)
    matcher = target_group.get("Matcher")
    if matcher:
        found["matcher"] = dict((k, v) for k, v in (("http_code", matcher.get("HttpCode")),
                                                    ("grpc_code", matcher.get("GrpcCode"))) if v is not None)
    return found


def elb_dimension(arn):
    """The CloudWatch dimension value of an ELB ARN: `targetgroup/<name>/<id>` for a target group, `app/<name>/<id>`
    for a load balancer; None for anything else."""
    resource = (parse_aws_arn(str(arn or "")) or {}).get("resource") or ""
    if resource.startswith("targetgroup/"):
        return resource
    if resource.startswith("loadbalancer/"):
        return resource[len("loadbalancer/"):]
    return None
