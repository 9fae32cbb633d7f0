# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record one deployment step for the deployment_audit callback. Runs on the controller only."""

import datetime

from ansible.plugins.action import ActionBase

TRAIL_FACT = "deployment_audit_trail"
# Bounds the trail a long-lived fact cache could otherwise grow without end (the report keeps one execution's).
MAX_TRAIL = 500


def trail_with(trail, event, moment):
    """`trail` (a list, else empty) plus `event` stamped with `moment` (UTC ISO 8601), the last MAX_TRAIL kept."""
    entries = [entry for entry in (trail if isinstance(trail, list) else []) if isinstance(entry, dict)]
    entry = dict(event)
    entry["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (entries + [entry])[-MAX_TRAIL:]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        event = dict(self._task.args)
        missing = [key for key in ("phase", "decision") if not event.get(key)]
        if missing:
            result.update(failed=True, msg="audit_event needs %s (got keys: %s)" % (" and ".join(missing), sorted(event)))
            return result
        facts = (task_vars or {}).get("ansible_facts") or {}
        trail = trail_with(facts.get(TRAIL_FACT), event, datetime.datetime.now(datetime.timezone.utc))
        result.update(changed=False, deployment_audit_event=event,
                      ansible_facts={"deployment_audit_event": event, TRAIL_FACT: trail})
        return result
