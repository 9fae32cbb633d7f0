# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hold after a deployment, and which old task-definition revisions go. Pure functions, no AWS.

A deployment ends at 100 % on the new slot with the old slot still running (warm: a rollback is one weight
change away). The old slot's service carries tags saying until when it is held and what it runs; whoever
comes later (the deployment's rerun, playbooks/ecs_cleanup.yml on a schedule) scales it down once the hold
has passed - and only if it is still the same idle slot: no production traffic, the same task definition,
no deployment in flight.
"""

import re

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils import times

TAG_PREFIX = "progressive-delivery:hold-"
TAG_UNTIL = TAG_PREFIX + "until"                 # ISO 8601 UTC, e.g. 2026-12-01T23:30:00Z
TAG_EXECUTION = TAG_PREFIX + "execution"         # execution id of the deployment that started the hold
TAG_TASK_DEFINITION = TAG_PREFIX + "task-definition"   # family:revision the held slot runs
TAG_LISTENER = TAG_PREFIX + "listener"           # production listener ARN (weights tell whether it serves)
TAG_TARGET_GROUP = TAG_PREFIX + "target-group"   # the held slot's target group ARN
TAG_LOCK = TAG_PREFIX + "lock"                   # deployment lock parameter of the application
HOLD_TAGS = (TAG_UNTIL, TAG_EXECUTION, TAG_TASK_DEFINITION, TAG_LISTENER, TAG_TARGET_GROUP, TAG_LOCK)

# What to do with a held slot (decide()).
EXPIRED = "expired"          # hold passed, still idle with the same revision: scale to zero
HOLDING = "holding"          # hold not passed yet: leave it warm
SERVING = "serving"          # it has production traffic again (rolled back to): the hold is void, never scale down
SUPERSEDED = "superseded"    # it runs another revision now (a later deployment reused the slot): the hold is void
LOCKED = "locked"            # a deployment of the application is in flight: leave it to that deployment
DONE = "done"                # already at zero: only the tags are left

_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


iso = times.iso


def epoch(stamp):
    """Epoch seconds of an ISO 8601 UTC stamp as iso() writes it; ValueError otherwise."""
    if not _ISO_RE.match(stamp or ""):
        raise ValueError("not an ISO 8601 UTC time like 2026-12-01T23:30:00Z: %r" % (stamp,))
    return int(times.to_epoch(stamp))


def hold_tags(now, seconds, execution_id, task_definition, listener_arn, target_group_arn, lock_name, existing=None):
    """The tags recording a hold of `seconds` from `now`.

    A hold already recorded for the same task definition is kept as it is (a rerun does not extend it)."""
    current = parse(existing or {})
    if current and current["task_definition"] == task_definition:
        return dict((k, (existing or {})[k]) for k in HOLD_TAGS if k in (existing or {}))
    tags = {TAG_UNTIL: iso(int(now) + max(0, int(seconds))), TAG_EXECUTION: str(execution_id),
            TAG_TASK_DEFINITION: task_definition, TAG_LISTENER: listener_arn, TAG_TARGET_GROUP: target_group_arn,
            TAG_LOCK: lock_name}
    return dict((k, v) for k, v in tags.items() if v)


def parse(tags):
    """The hold a service's tags record ({until, until_epoch, execution_id, task_definition, listener_arn,
    target_group_arn, lock_name}), or None when there is none (or its time cannot be read)."""
    if not tags or TAG_UNTIL not in tags:
        return None
    try:
        until_epoch = epoch(tags[TAG_UNTIL])
    except ValueError:
        return None
    return dict(until=tags[TAG_UNTIL], until_epoch=until_epoch, execution_id=tags.get(TAG_EXECUTION),
                task_definition=tags.get(TAG_TASK_DEFINITION), listener_arn=tags.get(TAG_LISTENER),
                target_group_arn=tags.get(TAG_TARGET_GROUP), lock_name=tags.get(TAG_LOCK))


def remaining(record, now):
    """Seconds of the hold still to go (0 once passed)."""
    return max(0, int(record["until_epoch"]) - int(now))


def decide(record, now, desired_count, task_definition, traffic_percent, lock_held):
    """What to do with a held slot, and why: (decision, reason).

    record: parse() of its tags; desired_count / task_definition: the service now (task_definition as
    family:revision); traffic_percent: its share of the production listener now; lock_held: whether the
    application's deployment lock is held (a deployment in flight)."""
    if traffic_percent > 0:
        return SERVING, "it serves %d %% of production: the hold no longer applies (rolled back to?)" % traffic_percent
    if record.get("task_definition") and task_definition and task_definition != record["task_definition"]:
        return SUPERSEDED, "it runs %s, not the held %s: a later deployment uses the slot" % (task_definition, record["task_definition"])
    if int(desired_count) == 0:
        return DONE, "already at 0 tasks"
    if lock_held:
        return LOCKED, "a deployment of the application is in flight (lock held): left to it"
    left = remaining(record, now)
    if left > 0:
        return HOLDING, "held until %s (%ds to go): a rollback is one weight change away" % (record["until"], left)
    return EXPIRED, "held until %s, passed %ds ago" % (record["until"], int(now) - int(record["until_epoch"]))


# `arn:...:task-definition/myapp:12` or `myapp:12` -> ("myapp", 12).
revision_number = arns.task_definition_revision


LOCK_MARGIN_SECONDS = 300   # what a lock renewed for a blocking hold keeps beyond the wait


def lock_extension_seconds(lock, execution_id, now, wait_seconds, margin_seconds=LOCK_MARGIN_SECONDS):
    """The TTL to renew the deployment lock `lock` (its record, None when absent) with before waiting `wait_seconds`
    for a hold: the wait plus `margin_seconds`, so it cannot go stale meanwhile (a stale lock may be broken by another
    run, which could deploy into the held slot). None when there is nothing to renew: the lock is not this
    execution's (absent, or another run's - the hold's end reads it again), or it outlasts the wait already."""
    if not lock or lock.get("execution_id") != execution_id:
        return None
    needed = int(wait_seconds) + int(margin_seconds)
    if int(lock.get("expires_at") or 0) >= int(now) + needed:
        return None
    return needed


def revisions_to_deregister(family, active, keep, in_use):
    """ACTIVE revisions of `family` to deregister: all but the newest `keep`, never one in `in_use`.

    active: ARNs or family:revision of ACTIVE revisions (any order, other families ignored); in_use:
    ARNs or family:revision that services run (every deployment of every service). Returns family:revision
    strings, oldest first. keep < 1 keeps everything (nothing is deregistered)."""
    if int(keep) < 1:
        return []
    mine = sorted(set(n for f, n in (revision_number(a) for a in active) if f == family))
    used = set(n for f, n in (revision_number(a) for a in in_use) if f == family)
    older = mine[:-int(keep)] if len(mine) > int(keep) else []
    return ["%s:%d" % (family, n) for n in older if n not in used]
