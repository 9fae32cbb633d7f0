# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base class of progressive.delivery.

Exactly community.aws's pattern: amazon.aws's AnsibleAWSModule, with this collection's
name and version in the botocore user agent so API calls can be told apart in CloudTrail.
"""

from ansible_collections.amazon.aws.plugins.module_utils.common import set_collection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

COLLECTION_NAME = "progressive.delivery"
COLLECTION_VERSION = "0.1.0"


class ProgressiveDeliveryModule(AnsibleAWSModule):
    def __init__(self, **kwargs):
        super(ProgressiveDeliveryModule, self).__init__(**kwargs)
        set_collection_info(collection_name=COLLECTION_NAME, collection_version=COLLECTION_VERSION)
