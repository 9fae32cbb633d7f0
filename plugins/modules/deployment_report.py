#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deployment_report
version_added: 0.3.0
short_description: Write a deployment's self-contained HTML report
description:
  - Renders the deployment record (and the run's audit trail, for the timeline) as the page the
    R(deployment_report_html filter,ansible_collections.progressive.delivery.deployment_report_html_filter) builds,
    and writes it to O(path) on the controller, creating the directory; the file is replaced whole, never left half
    written.
  - A report that cannot be written does not fail the task (a deployment that went through is not failed by its
    report); the result says why (C(written=false)). Bad arguments do fail it.
  - Prints its message like a debug task - the report's path, or why there is none.
  - An action that runs on the controller only; it replaces three tasks (directory, render and copy, message) by one.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  path:
    description: The report's file on the controller.
    type: path
    required: true
  deployment:
    description: The deployment record (as the playbooks build it, e.g. C(ecs_bg_deployment)).
    type: dict
    required: true
  trail:
    description: The run's audit records (the fact C(deployment_audit_trail)).
    type: list
    elements: dict
attributes:
  check_mode:
    support: full
    description: Writes nothing in check mode.
  diff_mode:
    support: none
    description: Returns no diff.
  action:
    support: full
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Deployment report
  progressive.delivery.deployment_report:
    path: "deployment-reports/{{ app }}-{{ execution_id }}.html"
    deployment: "{{ deployment }}"
    trail: "{{ ansible_facts.deployment_audit_trail | default([]) }}"
"""

RETURN = r"""
path:
  description: The report's absolute path.
  returned: when the arguments are valid
  type: str
written:
  description: Whether the report was written.
  returned: when the arguments are valid
  type: bool
msg:
  description: "C(Deployment report: <path>), or why it was not written."
  returned: always
  type: str
"""
