# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The url_problems, systemd_environment_problems, s3_location_problems, release_name_problems, deployment_input_problems
and deployment_state_problems filters (lists of problems, each naming the input, for roles and playbooks to refuse
before any change), lock_ttl (the deployment lock's TTL for a traffic schedule) and phases_argument_spec (one argument
spec for a role and the roles after it); documented in the .yml files beside this one."""

from ansible_collections.progressive.delivery.plugins.module_utils import input_checks
from ansible_collections.progressive.delivery.plugins.module_utils import vm_release


def url_problems(urls, allow_link_local=False):
    return input_checks.urls_problems(urls, bool(allow_link_local))


def systemd_environment_problems(environment, name="vm_deploy_systemd_environment"):
    return input_checks.systemd_environment_problems(environment, name)


def s3_location_problems(bucket, key=None):
    return input_checks.s3_location_problems(bucket, key)


def deployment_input_problems(inputs, names=None):
    inputs = inputs or {}
    return (input_checks.deployment_input_problems(inputs.get("image_tag"), inputs.get("image_tag_pattern"),
                                                   inputs.get("execution_id"), inputs.get("lock_name"), names)
            + input_checks.session_problems(inputs.get("session_seconds"), inputs.get("longest_unrenewed_seconds")))


def deployment_state_problems(slots, image=None, pushed=None, cluster=None, lock_name=None, now=0,
                              ecr_account_given=False):
    return input_checks.deployment_state_problems(pushed, image, slots, cluster, lock_name, int(now), bool(ecr_account_given))


def lock_ttl(steps, max_extensions=1, extension_seconds=0, floor_seconds=900, margin_seconds=300, override_seconds=0):
    return input_checks.lock_ttl_seconds([step["watch_seconds"] for step in steps or []], max_extensions,
                                         extension_seconds, floor_seconds, margin_seconds, override_seconds)


def phases_argument_spec(own_options, later_specs=None):
    return input_checks.phases_argument_spec(own_options, later_specs)


def release_name_problems(value, name="version"):
    """The VM path's one release-name rule (vm_release.VERSION_PATTERN), as a list of problems."""
    problem = vm_release.version_problem(name, value)
    return [problem] if problem else []


class FilterModule(object):
    def filters(self):
        return {"url_problems": url_problems, "systemd_environment_problems": systemd_environment_problems,
                "s3_location_problems": s3_location_problems, "deployment_input_problems": deployment_input_problems,
                "deployment_state_problems": deployment_state_problems, "lock_ttl": lock_ttl,
                "phases_argument_spec": phases_argument_spec,
                "release_name_problems": release_name_problems}
