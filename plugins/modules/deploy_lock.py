#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deploy_lock
version_added: 0.1.0
short_description: Take, release or break a deployment lock held in an SSM parameter
description:
  - One deployment per service at a time. The lock is an SSM parameter created with C(Overwrite=false), which
    AWS applies atomically, so of two runs racing for it exactly one wins.
  - The value records the holder's execution id, owner, the digest being deployed and an expiry.
  - A rerun of the same deployment (same O(digest)) takes the lock over, so a crashed run can be resumed.
    A different digest is refused with the holder's execution id and age. A lock past its expiry is broken
    only when O(break_stale=true), and any lock only with O(force=true).
  - Exists because M(community.aws.ssm_parameter) reads before it writes, which is not atomic, and it does not
    report who holds an existing value.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  name:
    description: Name of the SSM parameter, e.g. C(/progressive-delivery/locks/prod-ecs-cluster/myapp).
    type: str
    required: true
  state:
    description: C(present) takes the lock, C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  execution_id:
    description: Id of the run taking or releasing the lock.
    type: str
    required: true
  owner:
    description: Who runs it (user, AWX job template), for refusal messages.
    type: str
    default: unknown
  digest:
    description: The image digest the deployment is for. A run with the same digest takes an existing lock over.
    type: str
  service:
    description: The service being deployed, recorded in the lock.
    type: str
  ttl_seconds:
    description: How long the lock is valid; after that it is stale.
    type: int
    default: 7200
  break_stale:
    description: Take a lock whose expiry has passed.
    type: bool
    default: false
  force:
    description: Take or release the lock whoever holds it.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken or refused; writes nothing.
"""

EXAMPLES = r"""
- name: Take the deployment lock
  progressive.delivery.deploy_lock:
    name: /progressive-delivery/locks/prod-ecs-cluster/myapp
    execution_id: "{{ execution_id }}"
    owner: "{{ lookup('env', 'USER') }}"
    digest: "{{ image.digest }}"
    ttl_seconds: 7200

- name: Release it
  progressive.delivery.deploy_lock:
    name: /progressive-delivery/locks/prod-ecs-cluster/myapp
    execution_id: "{{ execution_id }}"
    state: absent
"""

RETURN = r"""
lock:
  description: The lock record now in the parameter (for C(present)), or the one released.
  returned: always
  type: dict
  contains:
    execution_id:
      description: Holder's execution id.
      type: str
    owner:
      description: Holder.
      type: str
    digest:
      description: Digest being deployed.
      type: str
    acquired_at:
      description: Epoch seconds when it was taken.
      type: int
    expires_at:
      description: Epoch seconds when it becomes stale.
      type: int
previous:
  description: The record that was there before, when the lock was taken over, broken or released.
  returned: when there was one
  type: dict
outcome:
  description: C(acquired), C(resumed), C(broken), C(released), C(absent).
  returned: always
  type: str
"""

import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils.modules import ProgressiveDeliveryModule, jittered_backoff
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib


def read_lock(ssm, name):
    try:
        return locklib.decode(ssm.get_parameter(aws_retry=True, Name=name)["Parameter"]["Value"])
    except is_boto3_error_code("ParameterNotFound"):
        return None


def write_lock(ssm, name, record, overwrite):
    ssm.put_parameter(aws_retry=True, Name=name, Value=locklib.encode(record), Type="String", Overwrite=overwrite,
                      Description="progressive.delivery deployment lock")


def acquire(module, ssm):
    p = module.params
    now = time.time()
    record = locklib.make_record(p["execution_id"], p["owner"], p["digest"], p["service"], now, p["ttl_seconds"])
    if not module.check_mode:
        try:
            write_lock(ssm, p["name"], record, overwrite=False)
            module.exit_json(changed=True, lock=record, outcome="acquired")
        except is_boto3_error_code("ParameterAlreadyExists"):
            pass
    existing = read_lock(ssm, p["name"])
    if existing is None:
        # Only reachable in check mode (or if it was released in between): it would be taken.
        module.exit_json(changed=True, lock=record, outcome="acquired")
    kind = locklib.classify(existing, p["execution_id"], p["digest"], now)
    if (kind == locklib.BUSY and not p["force"]) or (kind == locklib.STALE and not (p["break_stale"] or p["force"])):
        hint = "break it with break_stale=true" if kind == locklib.STALE else "wait for it, or roll it back / release it first"
        module.fail_json(msg="deployment lock %s is held by %s; %s" % (p["name"], locklib.describe_holder(existing, now), hint),
                         holder=existing, lock_state=kind)
    outcome = "resumed" if kind == locklib.HELD_BY_US else "broken"
    if existing.get("execution_id") == p["execution_id"] and existing.get("digest") == p["digest"]:
        # Already ours: keep its start time, extend the expiry.
        record["acquired_at"] = existing.get("acquired_at", record["acquired_at"])
    if not module.check_mode:
        write_lock(ssm, p["name"], record, overwrite=True)
    module.exit_json(changed=record != existing, lock=record, previous=existing, outcome=outcome)


def release(module, ssm):
    p = module.params
    existing = read_lock(ssm, p["name"])
    if existing is None:
        module.exit_json(changed=False, lock={}, outcome="absent")
    kind = locklib.classify(existing, p["execution_id"], p["digest"], time.time())
    if kind != locklib.HELD_BY_US and not p["force"]:
        module.fail_json(msg="deployment lock %s is held by %s, not by execution %s; release it with force=true"
                         % (p["name"], locklib.describe_holder(existing, time.time()), p["execution_id"]), holder=existing)
    if not module.check_mode:
        try:
            ssm.delete_parameter(aws_retry=True, Name=p["name"])
        except is_boto3_error_code("ParameterNotFound"):
            pass
    module.exit_json(changed=True, lock=existing, previous=existing, outcome="released")


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            execution_id=dict(type="str", required=True),
            owner=dict(type="str", default="unknown"),
            digest=dict(type="str"),
            service=dict(type="str"),
            ttl_seconds=dict(type="int", default=7200),
            break_stale=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["ttl_seconds"] <= 0:
        module.fail_json(msg="ttl_seconds must be positive, got %s" % module.params["ttl_seconds"])
    if not module.params["name"].startswith("/"):
        module.fail_json(msg="name must be a full SSM parameter path starting with '/', got %r" % module.params["name"])
    ssm = module.client("ssm", retry_decorator=jittered_backoff())
    try:
        if module.params["state"] == "present":
            acquire(module, ssm)
        else:
            release(module, ssm)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Failed to %s deployment lock %s" % (
            "take" if module.params["state"] == "present" else "release", module.params["name"]))


if __name__ == "__main__":
    main()
