#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deploy_lock
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Take, renew, release or break a deployment lock held in an SSM parameter
description:
  - One deployment per service at a time. The lock is an SSM parameter created with C(Overwrite=false), which
    AWS applies atomically, so of any number of runs racing for it exactly one wins.
  - The value records the holder's execution id, owner, the digest being deployed and an expiry.
  - The holder is the B(execution), not the digest. A rerun of the same execution (same O(execution_id)) takes the
    lock over, and so does another execution of the same digest that asks for it on purpose with O(resume=true) (a
    crashed run resumed by a new job). Another execution with the same digest (e.g. an ECR push event delivered
    twice) is refused, and so is a different digest, with the holder's execution id and age. A lock past its expiry
    is broken only when O(break_stale=true), and any lock only with O(force=true).
  - Renewing (O(state=renewed)) extends the expiry to now + O(ttl_seconds), only while this execution holds the
    lock; it fails, naming the holder, when another run took it or it is gone. Run it before each traffic step and
    during long watches, with a TTL covering one step.
  - Every change of an existing lock (resume, break, force, a take of a held record, and a renew or release near
    the expiry) is made under a short claim, a second
    parameter C(<name>.claim) created with C(Overwrite=false) and deleted after - the run holding it reads the lock,
    decides on the exact value read, and writes or deletes. SSM has no compare-and-swap; a claim left by a run killed
    in that second is ignored and deleted after 30 seconds (see module_utils/deploy_lock.py for the window).
  - The holder renews or releases a lock that expires more than 30 seconds from now without the claim (read, then
    overwrite or delete, 2 calls), as no honest writer may change a lock that is held and not stale - breaking needs it
    stale, a takeover needs O(force) or O(resume) on purpose, and after such a takeover one of the two runs is
    stopped at its next renew.
  - Exists because M(community.aws.ssm_parameter) reads before it writes, which is not atomic, and it does not
    report who holds an existing value.
options:
  name:
    description: Name of the SSM parameter, e.g. C(/progressive-delivery/locks/prod-ecs-cluster/myapp).
    type: str
    required: true
  state:
    description: C(present) takes the lock, C(renewed) extends the expiry of the lock this execution holds, C(absent) releases it.
    type: str
    choices: [present, renewed, absent]
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
    description: The image digest the deployment is for; with O(resume=true), a lock for the same digest is taken over.
    type: str
  service:
    description: The service being deployed, recorded in the lock.
    type: str
  ttl_seconds:
    description: How long the lock is valid from now (taken or renewed); after that it is stale. Cover one traffic
      step (its watch and extension, with a margin) and renew before each.
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
  resume:
    description: Take over a lock held by another execution for the same O(digest) - a deliberate resume of a
      deployment whose run died. Without it, another execution of the same digest is refused.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reports whether the lock would be taken or refused; writes nothing.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
"""

EXAMPLES = r"""
- name: Take the deployment lock
  progressive.delivery.deploy_lock:
    name: /progressive-delivery/locks/prod-ecs-cluster/myapp
    execution_id: "{{ execution_id }}"
    owner: "{{ lookup('env', 'USER') }}"
    digest: "{{ image.digest }}"
    ttl_seconds: 7200

- name: Heartbeat before each traffic step - extend the lock while this execution holds it
  progressive.delivery.deploy_lock:
    name: /progressive-delivery/locks/prod-ecs-cluster/myapp
    execution_id: "{{ execution_id }}"
    state: renewed
    ttl_seconds: 1200

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
    nonce:
      description: Random id of this taking of the lock; a renew keeps it.
      type: str
    deployment_started_at:
      description: Epoch seconds when the deployment of this digest first took the lock, kept by every later take of
        a lock deploying the same digest (a rerun, a resume, a broken stale lock); the last moment live served all
        traffic, where a resumed deployment's baseline ends.
      type: int
previous:
  description: The record that was there before, when the lock was renewed, taken over, broken or released.
  returned: when there was one
  type: dict
expires_at:
  description: Epoch seconds when the lock held now becomes stale (RV(lock.expires_at)); the holder renews it before.
  returned: when the lock is held after the call (not on release)
  type: int
  sample: 1767225600
outcome:
  description: C(acquired), C(renewed) (taken again or renewed by its holder), C(resumed), C(broken), C(forced),
    C(released), C(absent).
  returned: always
  type: str
"""

from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib


def run(module, store):
    p = module.params
    if p["state"] == "present":
        outcome, lock, previous = store.take(p["execution_id"], p["owner"], p["digest"], p["service"], p["ttl_seconds"],
                                             break_stale=p["break_stale"], force=p["force"], resume=p["resume"],
                                             check_mode=module.check_mode)
    elif p["state"] == "renewed":
        outcome, lock, previous = store.renew(p["execution_id"], p["ttl_seconds"], check_mode=module.check_mode)
    else:
        outcome, lock, previous = store.release(p["execution_id"], force=p["force"], check_mode=module.check_mode)
    changed = outcome == "released" or (outcome != "absent" and lock != previous)
    result = dict(changed=changed, lock=lock, outcome=outcome)
    if outcome != "released" and lock and lock.get("expires_at") is not None:
        result["expires_at"] = int(lock["expires_at"])
    if previous is not None:
        result["previous"] = previous
    module.exit_json(**result)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "renewed", "absent"], default="present"),
            execution_id=dict(type="str", required=True),
            owner=dict(type="str", default="unknown"),
            digest=dict(type="str"),
            service=dict(type="str"),
            ttl_seconds=dict(type="int", default=7200),
            break_stale=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            resume=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    problem = locklib.check_inputs(module.params)
    if problem:
        module.fail_json(msg=problem)
    ssm = module.client("ssm", retry_decorator=jittered_backoff())
    store = locklib.LockStore(ssm, module.params["name"], retry=True)
    try:
        run(module, store)
    except locklib.LockRefused as e:
        module.fail_json(msg=e.msg, holder=e.holder, lock_state=e.lock_state)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to %s deployment lock %s" % (
            dict(present="take", renewed="renew", absent="release")[module.params["state"]], module.params["name"]))


if __name__ == "__main__":
    main()
