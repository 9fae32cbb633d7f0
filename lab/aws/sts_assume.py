"""STS AssumeRole as strict as AWS (moto 5.2.5 hands out credentials for any ARN, existing role or not).

Refused as AWS refuses them: a role that does not exist, or whose trust policy does not let the caller assume
it (Principal AWS: the caller's ARN, its account's root, or "*"; Action sts:AssumeRole), or whose trust policy
asks for an sts:ExternalId the caller did not give (AccessDenied, "User: <caller> is not authorized to perform:
sts:AssumeRole on resource: <role>"); DurationSeconds below 900 or above the role's MaxSessionDuration
(ValidationError). Other trust-policy conditions are not evaluated (as in iam_policy).
"""
import json
import re

from moto.iam.models import iam_backends
from moto.sts import responses as sts_responses
from moto.sts.exceptions import STSClientError, STSValidationError

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]{1,64})$")
_original_assume_role = sts_responses.TokenResponse.assume_role


class AccessDenied(STSClientError):
    code = "AccessDenied"


def _as_list(value):
    return value if isinstance(value, list) else [value] if value is not None else []


def _allows(document, caller_arn, account, external_id):
    """Whether a trust policy lets `caller_arn` assume the role (None) or the refusal's reason."""
    try:
        statements = _as_list(json.loads(document).get("Statement"))
    except (TypeError, ValueError, AttributeError):
        return "the role's trust policy cannot be read"
    principals = (caller_arn, "arn:aws:iam::%s:root" % account, account, "*")
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in _as_list(statement.get("Action"))]
        if not any(a in ("sts:assumerole", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        allowed = _as_list(principal.get("AWS")) if isinstance(principal, dict) else _as_list(principal)
        if not any(p in principals for p in allowed):
            continue
        wanted = []
        for operator, values in (statement.get("Condition") or {}).items():
            if operator.lower() == "stringequals":
                wanted += [str(v) for k, v in values.items() if k.lower() == "sts:externalid" for v in _as_list(v)]
        if wanted and external_id not in wanted:
            continue
        return None
    return "not allowed by the role's trust policy"


def assume_role(self):
    role_arn = self._get_param("RoleArn") or ""
    duration = self._get_int_param("DurationSeconds", 3600)
    external_id = self._get_param("ExternalId")
    dummy, caller_arn, caller_account = self.backend.get_caller_identity(self.get_access_key(), self.region)
    denied = "User: %s is not authorized to perform: sts:AssumeRole on resource: %s" % (caller_arn, role_arn)
    match = ROLE_ARN.match(role_arn)
    if not match:
        raise STSValidationError("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: "
                                 "Member must be the ARN of an IAM role" % role_arn)
    account = match.group(1)
    try:
        role = iam_backends[account]["global"].get_role_by_arn(role_arn)
    except Exception:
        raise AccessDenied(denied)
    if _allows(role.assume_role_policy_document, caller_arn, caller_account, external_id):
        raise AccessDenied(denied)
    max_duration = int(role.max_session_duration or 3600)
    if duration < 900:
        raise STSValidationError("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy "
                                 "constraint: Member must have value greater than or equal to 900" % duration)
    if duration > max_duration:
        raise STSValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return _original_assume_role(self)


def install():
    sts_responses.TokenResponse.assume_role = assume_role
