#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_taskdef_prune
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.2.0
short_description: Keep the newest N revisions of a task-definition family, deregister the older ones
description:
  - Lists the ACTIVE revisions of O(family) and deregisters all but the newest O(keep) - never one that a service
    of O(clusters) runs (any of its deployments, PRIMARY or ACTIVE), so a slot and a rollback target keep theirs.
  - Deregistered revisions become INACTIVE, as ECS does it; running tasks keep running and the revision can still
    be described.
options:
  family:
    description: Task-definition family (exactly; other families that share its prefix are left alone).
    type: str
    required: true
  keep:
    description: How many of the newest ACTIVE revisions to keep. C(0) keeps everything (nothing is deregistered).
    type: int
    default: 10
  clusters:
    description: Clusters whose services' revisions are never deregistered. Default every cluster of the region.
    type: list
    elements: str
  services:
    description:
      - Only these services (names or ARNs) of O(clusters) keep their revisions; only they are described.
      - A deployer's policy scoped to its app's services may not describe the other services of a shared cluster,
        and need not - ECS lets a service go on running and scaling a revision deregistered under it.
      - Default every service of O(clusters) (ListServices and DescribeServices on all of them).
    type: list
    elements: str
attributes:
  check_mode:
    description: Lists what it would deregister.
  diff_mode:
    support: full
    description: The family's ACTIVE revisions before and after.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
"""

EXAMPLES = r"""
- name: Keep the newest 10 revisions of myapp
  progressive.delivery.ecs_taskdef_prune:
    family: myapp
    keep: 10
    clusters: [prod-ecs-cluster]
    services: [myapp-a, myapp-b]
"""

RETURN = r"""
deregistered:
  description: The revisions deregistered (in check mode, that would be), as C(family:revision), oldest first.
  returned: always
  type: list
  elements: str
kept:
  description: The ACTIVE revisions left, newest first.
  returned: always
  type: list
  elements: str
in_use:
  description: The family's revisions services run, kept whatever their age.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import hold as holdlib


def revisions_in_use(ecs, clusters, services=None):
    used = set()
    for cluster in clusters:
        arns = services if services is not None else reads.paginate(ecs, "list_services", "serviceArns", cluster=cluster)
        for service in reads.describe_services(ecs, cluster, arns):
            used.add(service.get("taskDefinition"))
            used.update(d.get("taskDefinition") for d in service.get("deployments") or [])
    return sorted(u for u in used if u)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            family=dict(type="str", required=True),
            keep=dict(type="int", default=10),
            clusters=dict(type="list", elements="str"),
            services=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["keep"] < 0:
        module.fail_json(msg="keep must be >= 0 (0 keeps everything), got %d" % p["keep"])
    ecs = module.client("ecs", retry_decorator=jittered_backoff(catch_extra_error_codes=["ThrottlingException"]))
    try:
        clusters = p["clusters"]
        if clusters is None:
            clusters = reads.paginate(ecs, "list_clusters", "clusterArns")
        active = reads.paginate(ecs, "list_task_definitions", "taskDefinitionArns", familyPrefix=p["family"], status="ACTIVE")
        mine = sorted((n for f, n in (holdlib.revision_number(a) for a in active) if f == p["family"]), reverse=True)
        in_use = revisions_in_use(ecs, clusters, p["services"]) if p["keep"] else []
        drop = holdlib.revisions_to_deregister(p["family"], active, p["keep"], in_use)
        if drop and not module.check_mode:
            for name in drop:
                ecs.deregister_task_definition(aws_retry=True, taskDefinition=name)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to prune task definition family %s" % p["family"])
    used_here = sorted(set("%s:%d" % holdlib.revision_number(u) for u in in_use if holdlib.revision_number(u)[0] == p["family"]))
    before = ["%s:%d" % (p["family"], n) for n in mine]
    kept = [r for r in before if r not in drop]
    module.exit_json(changed=bool(drop), deregistered=drop, kept=kept, in_use=used_here,
                     diff=dict(before="\n".join(before) + "\n", after="\n".join(kept) + "\n"))


if __name__ == "__main__":
    main()
