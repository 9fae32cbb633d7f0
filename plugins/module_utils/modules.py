# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base class of progressive.delivery, and the retry policy every AWS client of ours uses.

Exactly community.aws's pattern: amazon.aws's AnsibleAWSModule, with this collection's
name and version in the botocore user agent so API calls can be told apart in CloudTrail.

Retries, two layers (AWS throttles any account that is busy; a deployment makes about 75 calls):
- botocore's `standard` retry mode with BOTOCORE_MAX_ATTEMPTS attempts on every client `client()` makes
  (it retries Throttling, ThrottlingException, RequestLimitExceeded ... and HTTP 500/502/503/504 with jittered
  exponential backoff). A user's `aws_config` (module option, or `module_defaults`) still wins.
- `jittered_backoff()` around every call made with `aws_retry=True`: amazon.aws's AWSRetry, which by default
  retries `Throttling` (query APIs) but not `ThrottlingException` (JSON APIs: ECS, SSM, ECR, Logs ...), so the
  JSON codes are added here.
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=unused-import  # for the modules
except ImportError:  # AnsibleAWSModule fails first, naming the missing library
    BotoCoreError = ClientError = Exception

from ansible_collections.amazon.aws.plugins.module_utils.common import set_collection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

COLLECTION_NAME = "progressive.delivery"
# What a failed AWS call raises: `except (BotoCoreError, ClientError) as e: module.fail_json_aws(e, msg=...)`.
COLLECTION_VERSION = "0.1.0"

# Error codes AWSRetry does not retry by default (it has RequestLimitExceeded, Unavailable, ServiceUnavailable,
# InternalFailure, InternalError, TooManyRequestsException, Throttling); RequestLimitExceeded is listed again on
# purpose, so this list alone says what we count on.
RETRY_EXTRA_ERROR_CODES = [
    "ThrottlingException",          # ECS, SSM, ECR, CloudWatch Logs, Secrets Manager (JSON protocol)
    "RequestLimitExceeded",         # EC2 protocol
    "ThrottledException",
    "RequestThrottledException",
    "ServiceUnavailableException",
    "ServerException",              # ECS's own 500
    "SlowDown",                     # S3
]
BOTOCORE_RETRY_MODE = "standard"
BOTOCORE_MAX_ATTEMPTS = 10


def jittered_backoff(retries=10, delay=3, max_delay=60, **kwargs):
    """AWSRetry.jittered_backoff that also retries the JSON APIs' throttling codes: the one retry decorator of this
    collection (module.client(..., retry_decorator=jittered_backoff()) and on paginator helpers)."""
    codes = list(RETRY_EXTRA_ERROR_CODES) + list(kwargs.pop("catch_extra_error_codes", None) or [])
    return AWSRetry.jittered_backoff(retries=retries, delay=delay, max_delay=max_delay, catch_extra_error_codes=codes, **kwargs)


def botocore_config():
    """The botocore Config options every client of ours starts from (merged under the user's aws_config)."""
    return {"retries": {"mode": BOTOCORE_RETRY_MODE, "total_max_attempts": BOTOCORE_MAX_ATTEMPTS}}


class ProgressiveDeliveryModule(AnsibleAWSModule):
    def __init__(self, **kwargs):
        super(ProgressiveDeliveryModule, self).__init__(**kwargs)
        set_collection_info(collection_name=COLLECTION_NAME, collection_version=COLLECTION_VERSION)

    def client(self, service, retry_decorator=None, **extra_params):
        """A client with botocore's standard retries and, unless told otherwise, this collection's jittered backoff
        for calls made with aws_retry=True. amazon.aws merges `config` first and the user's `aws_config` over it."""
        if retry_decorator is None:
            retry_decorator = jittered_backoff()
        extra_params.setdefault("config", botocore_config())
        return super(ProgressiveDeliveryModule, self).client(service, retry_decorator=retry_decorator, **extra_params)


# Codes that mean "try again later" (throttling, or the service's own failure), and the HTTP statuses that do.
TRANSIENT_ERROR_CODES = frozenset([
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown", "InternalError", "InternalFailure", "ServiceUnavailable",
    "ServiceUnavailableException", "ServerException", "Unavailable",
])
TRANSIENT_HTTP_STATUS = frozenset([429, 500, 502, 503, 504])


def is_transient_error(error):
    """True for a botocore ClientError that is throttling or a 5xx: a poll may skip a round on it."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in TRANSIENT_ERROR_CODES or status in TRANSIENT_HTTP_STATUS


def poll_backoff(misses, poll_interval, remaining, cap=60.0, rand=None):
    """Seconds a poll waits after `misses` consecutive throttled/5xx rounds (full jitter over poll_interval x 2^misses,
    at most `cap`), never past the poll's deadline (`remaining` seconds); None when no time is left to try again."""
    if remaining <= 0:
        return None
    if rand is None:
        import random
        rand = random.random
    ceiling = min(cap, float(poll_interval) * (2 ** max(0, misses)))
    return min(remaining, max(0.5, ceiling * rand()))
