"""The collection's retry policy (module_utils/modules.py): what it retries, with which botocore config, and how
long polls back off."""
import pathlib
import re

import pytest
from botocore.exceptions import ClientError

from ansible_collections.progressive.delivery.plugins.module_utils import modules

PLUGINS = pathlib.Path(__file__).resolve().parents[4] / "plugins"


def client_error(code, status=400):
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def flaky(codes):
    """A call failing with each code in turn, then answering 'ok'."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= len(codes):
            raise client_error(codes[len(calls) - 1])
        return "ok"
    return call, calls


@pytest.mark.parametrize("code", ["ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException",
                                  "InternalError", "ServiceUnavailable", "SlowDown", "ServerException"])
def test_jittered_backoff_retries_throttling_of_every_protocol(code):
    call, calls = flaky([code, code])
    assert modules.jittered_backoff(retries=3, delay=0.01, max_delay=0.02)(call)() == "ok"
    assert len(calls) == 3


def test_amazon_aws_default_would_not_retry_throttling_exception():
    from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
    call, calls = flaky(["ThrottlingException"])
    with pytest.raises(ClientError):
        AWSRetry.jittered_backoff(retries=3, delay=0.01, max_delay=0.02)(call)()
    assert len(calls) == 1


def test_other_errors_are_not_retried_and_extra_codes_add_up():
    call, calls = flaky(["AccessDenied"])
    with pytest.raises(ClientError):
        modules.jittered_backoff(retries=3, delay=0.01)(call)()
    assert len(calls) == 1
    call, calls = flaky(["ConcurrentUpdate", "ThrottlingException"])
    assert modules.jittered_backoff(retries=3, delay=0.01, catch_extra_error_codes=["ConcurrentUpdate"])(call)() == "ok"


def test_botocore_config_is_standard_mode_with_ten_attempts():
    import botocore.config
    config = botocore.config.Config(**modules.botocore_config())
    assert config.retries == {"mode": "standard", "total_max_attempts": 10}


def test_every_client_and_decorator_of_ours_uses_the_shared_policy():
    """No module or module_utils builds its own AWSRetry or a raw boto3 client: they go through modules.py."""
    offenders = []
    for path in sorted(PLUGINS.glob("module*/*.py")):
        if path.name == "modules.py":
            continue
        text = path.read_text()
        if "AWSRetry" in text or re.search(r"boto3\.(client|session)", text):
            offenders.append(path.name)
        for call in re.findall(r"module\.client\([^)]*\)", text):
            if "retry_decorator=jittered_backoff(" not in call:
                offenders.append("%s: %s" % (path.name, call))
    assert offenders == []


@pytest.mark.parametrize("error,transient", [
    (client_error("ThrottlingException"), True),
    (client_error("Throttling"), True),
    (client_error("Whatever", 503), True),
    (client_error("InternalError", 500), True),
    (client_error("ServiceNotFoundException"), False),
    (client_error("AccessDeniedException"), False),
    (ValueError("x"), False),
])
def test_is_transient_error(error, transient):
    assert modules.is_transient_error(error) is transient


def test_poll_backoff_grows_is_capped_and_stops_at_the_deadline():
    assert modules.poll_backoff(0, 5, 100, rand=lambda: 1.0) == 5
    assert modules.poll_backoff(2, 5, 100, rand=lambda: 1.0) == 20
    assert modules.poll_backoff(6, 5, 1000, rand=lambda: 1.0) == 60        # cap
    assert modules.poll_backoff(3, 5, 7, rand=lambda: 1.0) == 7            # never past the deadline
    assert modules.poll_backoff(3, 5, 100, rand=lambda: 0.0) == 0.5        # jitter has a floor
    assert modules.poll_backoff(0, 5, 0, rand=lambda: 1.0) is None
    assert modules.poll_backoff(0, 5, -3) is None
