# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ecr_push_event_inputs filter (documented in ecr_push_event_inputs.yml beside this file)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.ecr_event import EcrEventError, push_event_inputs


def ecr_push_event_inputs(event, repository=None, account=None, region=None):
    try:
        return push_event_inputs(event, repository=repository or None, account=account or None, region=region or None)
    except EcrEventError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {"ecr_push_event_inputs": ecr_push_event_inputs}
