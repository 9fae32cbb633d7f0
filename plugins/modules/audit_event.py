#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: audit_event
version_added: 0.1.0
short_description: Record one deployment step in the audit trail
description:
  - Hands a record of one deployment step (phase, decision, the metrics behind it, anything else given) to the
    M(progressive.delivery.deployment_audit) callback, which writes it as a JSON line (and optionally to CloudWatch Logs)
    with the time, execution id and who ran it.
  - Also sets the fact C(deployment_audit_event) to the record, and appends the record with its C(time) (UTC) to the
    fact C(deployment_audit_trail) (the run's records so far, the last 500 kept; the deployment report draws its
    timeline from it). Changes nothing anywhere else.
  - An action that runs on the controller only.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  phase:
    description: The flow's phase, e.g. C(validate), C(green), C(shift), C(cleanup), C(rollback).
    type: str
    required: true
  decision:
    description: What was decided, e.g. C(deploy), C(pass), C(fail), C(rolled-back).
    type: str
    required: true
  execution_id:
    description: The deployment's execution id.
    type: str
  metrics:
    description: The per-metric verdicts behind the decision.
    type: list
    elements: dict
  reason:
    description: Why, in words.
    type: str
notes:
  - Any other key given is recorded as it is; keep secrets out of it.
attributes:
  check_mode:
    support: full
    description: Records in check mode too (marked by the callback).
  action:
    support: full
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Record the step
  progressive.delivery.audit_event:
    execution_id: "{{ plan.execution_id }}"
    phase: shift
    decision: "{{ verdict.decision }}"
    metrics: "{{ verdict.metrics }}"
"""

RETURN = r"""
deployment_audit_event:
  description: The record as given.
  returned: always
  type: dict
ansible_facts:
  description: Facts set.
  returned: always
  type: dict
  contains:
    deployment_audit_event:
      description: The record as given.
      type: dict
    deployment_audit_trail:
      description: Every record of this run so far (the last 500), oldest first, each with C(time) (UTC, ISO 8601).
      type: list
      elements: dict
"""
