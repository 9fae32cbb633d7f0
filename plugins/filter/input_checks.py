# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The url_problems, systemd_environment_problems, s3_location_problems and release_name_problems filters (documented in the .yml files
beside this one): lists of problems, each naming the input, for roles and playbooks to refuse before any change."""

from ansible_collections.progressive.delivery.plugins.module_utils import input_checks
from ansible_collections.progressive.delivery.plugins.module_utils import vm_release


def url_problems(urls, allow_link_local=False):
    return input_checks.urls_problems(urls, bool(allow_link_local))


def systemd_environment_problems(environment, name="vm_deploy_systemd_environment"):
    return input_checks.systemd_environment_problems(environment, name)


def s3_location_problems(bucket, key=None):
    return input_checks.s3_location_problems(bucket, key)


def release_name_problems(value, name="version"):
    """The VM path's one release-name rule (vm_release.VERSION_PATTERN), as a list of problems."""
    problem = vm_release.version_problem(name, value)
    return [problem] if problem else []


class FilterModule(object):
    def filters(self):
        return {"url_problems": url_problems, "systemd_environment_problems": systemd_environment_problems,
                "s3_location_problems": s3_location_problems, "release_name_problems": release_name_problems}
