# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The traffic filters: traffic_schedule, traffic_plan, deployment_step, deployment_failure_reason and
lock_renewal_due (documented in the .yml files beside this file)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils import deploy_policy
from ansible_collections.progressive.delivery.plugins.module_utils import deployment


def traffic_schedule(steps):
    normalized, errors = deploy_policy.validate_schedule(steps)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return normalized


def traffic_plan(steps, current_percent=0, period=60, delay=0, max_extensions=0, extension_seconds=0):
    try:
        return deploy_policy.shift_plan(steps, int(current_percent or 0), int(period), int(delay),
                                        int(max_extensions), int(extension_seconds or 0))
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(str(e))


def deployment_step(verdict, step, question="", weights=None, shifted_at=None, operator_answer=None, check_mode=False):
    try:
        return deployment.step_record(step, verdict, question, weights, shifted_at, operator_answer, bool(check_mode))
    except (KeyError, TypeError, ValueError) as e:
        raise AnsibleFilterError("deployment_step: %s" % e)


def deployment_failure_reason(steps, failed_message="", failed_task=""):
    return deployment.failure_reason(steps, failed_message, failed_task)


def lock_renewal_due(expires_at, now, step_seconds, margin_seconds=60):
    return deployment.lock_renewal_due(expires_at, now, step_seconds, margin_seconds)


class FilterModule(object):
    def filters(self):
        return {"traffic_schedule": traffic_schedule, "traffic_plan": traffic_plan, "deployment_step": deployment_step,
                "deployment_failure_reason": deployment_failure_reason, "lock_renewal_due": lock_renewal_due}
