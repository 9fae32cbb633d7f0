# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    """The ECS cluster option of the modules that work on one cluster's services (argument spec: modules.ECS_CLUSTER)."""

    DOCUMENTATION = r"""
options:
  cluster:
    description: ECS cluster name or ARN.
    type: str
    required: true
"""
