# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The deployment report filter: a deployment as one self-contained HTML page (see deployment_report_html.yml)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report


def deployment_report_html(deployment, trail=None, generated_at=None):
    if not isinstance(deployment, dict):
        raise AnsibleFilterError("deployment_report_html expects the deployment as a dict, got %s" % type(deployment).__name__)
    if trail is not None and not isinstance(trail, (list, tuple)):
        raise AnsibleFilterError("deployment_report_html: trail must be a list of audit records, got %s" % type(trail).__name__)
    return deployment_report.render(deployment, trail=list(trail or []), generated_at=generated_at)


class FilterModule(object):
    def filters(self):
        return {"deployment_report_html": deployment_report_html}
