# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The traffic_schedule and traffic_plan filters (documented in the .yml files beside this file)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils import deploy_policy


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


class FilterModule(object):
    def filters(self):
        return {"traffic_schedule": traffic_schedule, "traffic_plan": traffic_plan}
