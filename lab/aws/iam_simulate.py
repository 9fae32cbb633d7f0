"""IAM SimulatePrincipalPolicy and SimulateCustomPolicy (not implemented in moto 5.2.5).

The principal (user, role or group ARN) is evaluated with its inline and attached managed policies (a
user's also with those of its groups), plus any PolicyInputList documents; see iam_policy for what is
and is not evaluated (conditions are ignored). Results: one per action and resource of the call (each action on every
resource, as AWS evaluates them), paged as AWS pages them: MaxItems (1-1000, default 100) a page, Marker to go on.
"""
from moto.core.responses import ActionResult
from moto.iam import responses as iam_responses
from moto.iam.exceptions import IAMException

from lab.aws.iam_policy import evaluation_results


class InvalidInput(IAMException):
    code = "InvalidInput"


def _default_document(policy):
    for version in policy.versions:
        if version.is_default:
            return version.document
    return policy.versions[-1].document if policy.versions else "{}"


def _holder_policies(holder, inline_type):
    out = [{"id": name, "type": inline_type, "document": doc} for name, doc in holder.policies.items()]
    for arn, policy in holder.managed_policies.items():
        managed_type = "aws-managed" if ":aws:policy/" in arn else "user-managed"
        out.append({"id": policy.name, "type": managed_type, "document": _default_document(policy)})
    return out


def principal_policies(backend, arn):
    """Every identity policy that applies to the user / role / group `arn`."""
    kind_and_name = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    kind, _, path_name = kind_and_name.partition("/")
    name = path_name.rsplit("/", 1)[-1]
    if kind == "user":
        user = backend.get_user(name)
        policies = _holder_policies(user, "user")
        for group in backend.get_groups_for_user(user.name):
            policies += _holder_policies(group, "group")
        return policies
    if kind == "role":
        return _holder_policies(backend.get_role(name), "role")
    if kind == "group":
        return _holder_policies(backend.get_group(name), "group")
    raise InvalidInput("Invalid ARN or name for PolicySourceArn: %s (an IAM user, group or role ARN)" % arn)


def _input_policies(documents):
    return [{"id": "PolicyInputList.%d" % (i + 1), "type": "none", "document": doc}
            for i, doc in enumerate(documents or [])]


def _check_actions(actions):
    if not actions:
        raise InvalidInput("ActionNames must contain at least one action")


def _page(params, results):
    """A page of `results` as AWS returns it: MaxItems (1-1000, default 100) from Marker, IsTruncated and Marker."""
    try:
        size = int(params.get("MaxItems") or 100)
        start = int(params.get("Marker") or 0)
    except (TypeError, ValueError):
        raise InvalidInput("Invalid Marker or MaxItems")
    if not 1 <= size <= 1000:
        raise InvalidInput("MaxItems must be between 1 and 1000, got %s" % size)
    page = {"EvaluationResults": results[start:start + size], "IsTruncated": start + size < len(results)}
    if page["IsTruncated"]:
        page["Marker"] = str(start + size)
    return ActionResult(page)


def simulate_principal_policy(self):
    params = self._get_params()
    source = params.get("PolicySourceArn")
    actions = params.get("ActionNames") or []
    _check_actions(actions)
    policies = principal_policies(self.backend, source or "")
    policies += _input_policies(params.get("PolicyInputList"))
    results = evaluation_results(policies, actions, params.get("ResourceArns") or ["*"])
    return _page(params, results)


def simulate_custom_policy(self):
    params = self._get_params()
    actions = params.get("ActionNames") or []
    _check_actions(actions)
    documents = params.get("PolicyInputList") or []
    if not documents:
        raise InvalidInput("PolicyInputList must contain at least one policy document")
    results = evaluation_results(_input_policies(documents), actions, params.get("ResourceArns") or ["*"])
    return _page(params, results)


def install():
    iam_responses.IamResponse.simulate_principal_policy = simulate_principal_policy
    iam_responses.IamResponse.simulate_custom_policy = simulate_custom_policy
