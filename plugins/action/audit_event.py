# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record one deployment step for the deployment_audit callback. Runs on the controller only."""

from ansible.plugins.action import ActionBase


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
        result.update(changed=False, deployment_audit_event=event, ansible_facts=dict(deployment_audit_event=event))
        return result
