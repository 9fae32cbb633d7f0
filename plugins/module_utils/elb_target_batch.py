# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take a batch of targets out of a target group (and wait until they drained) or put them back (and wait until
they are healthy) - the pure part of plugins/modules/elb_target_batch.py: input checks, what to call, when done.

A target is a dict {id, port}; `health` is describe_target_health's TargetHealthDescriptions, read without a
Targets filter (a target not in it is not registered).
"""

import time

# States of a registered target (describe_target_health); `draining` is on its way out.
REGISTERED_STATES = frozenset(["initial", "healthy", "unhealthy", "unavailable", "unhealthy.draining"])
GONE_STATES = frozenset(["unused"])


def check_targets(targets):
    """Errors of the `targets` option, naming it; [] when fine."""
    if not isinstance(targets, list):
        return ["targets must be a list of {id, port}, got %r" % (targets,)]
    errors = []
    seen = set()
    for i, target in enumerate(targets):
        if not isinstance(target, dict) or not str(target.get("id") or "").strip():
            errors.append("targets[%d] needs an id (instance id or IP address), got %r" % (i, target))
            continue
        port = target.get("port")
        try:
            port = int(port)
        except (TypeError, ValueError):
            errors.append("targets[%d] (%s) needs a port 1-65535, got %r" % (i, target["id"], port))
            continue
        if not 1 <= port <= 65535:
            errors.append("targets[%d] (%s) needs a port 1-65535, got %r" % (i, target["id"], port))
            continue
        key = (str(target["id"]), port)
        if key in seen:
            errors.append("targets[%d] (%s:%d) is given twice" % (i, key[0], port))
        seen.add(key)
    return errors


def normalize(targets):
    """[{'Id': str, 'Port': int}] in the order given (check_targets first)."""
    return [{"Id": str(t["id"]), "Port": int(t["port"])} for t in targets]


def key(target):
    return "%s:%d" % (target["Id"], int(target["Port"]))


def states(health, targets):
    """{'id:port': state} of `targets` in `health`; a target not in it is 'unused' (not registered)."""
    found = {}
    for desc in health or []:
        target = desc.get("Target") or {}
        if "Id" in target and "Port" in target:
            found[key(target)] = (desc.get("TargetHealth") or {}).get("State", "unused")
    return dict((key(t), found.get(key(t), "unused")) for t in targets)


def to_change(state, now):
    """The targets of `now` ({'id:port': state}) a call must change to reach `state` (present / absent):
    present registers those not registered (unused or draining); absent deregisters the registered ones."""
    if state == "present":
        return [k for k, s in now.items() if s in GONE_STATES or s == "draining"]
    return [k for k, s in now.items() if s not in GONE_STATES and s != "draining"]


def pending(state, now, wait_healthy=True):
    """The targets of `now` not there yet: absent - still registered or draining; present - not healthy
    (or, with wait_healthy false, not registered)."""
    if state == "absent":
        return [k for k, s in now.items() if s not in GONE_STATES]
    if wait_healthy:
        return [k for k, s in now.items() if s != "healthy"]
    return [k for k, s in now.items() if s in GONE_STATES or s == "draining"]


def wait_until(read, state, targets, timeout, interval, wait_healthy=True, clock=time.time, sleep=time.sleep):
    """Poll `read()` (-> TargetHealthDescriptions) until no target of `targets` is pending, at most `timeout`
    seconds; returns (done, {'id:port': state}, seconds waited)."""
    started = clock()
    while True:
        now = states(read(), targets)
        waited = clock() - started
        if not pending(state, now, wait_healthy) or waited >= timeout:
            return not pending(state, now, wait_healthy), now, round(waited, 1)
        sleep(max(0.1, min(interval, timeout - waited)))


def describe_wait(state, wait_healthy):
    return "drained (deregistered)" if state == "absent" else ("healthy" if wait_healthy else "registered")
