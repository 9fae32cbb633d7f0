"""IAM policy evaluation for SimulatePrincipalPolicy / SimulateCustomPolicy: pure functions (unit-tested).

Covers identity policies: Allow / Deny statements, Action / NotAction and Resource / NotResource with
`*` and `?` wildcards (actions case-insensitive, resources case-sensitive). An explicit Deny wins over
any Allow; nothing matching is an implicit deny. Not evaluated (documented lab limits): Condition
blocks (a statement with a Condition is treated as if its condition held), permission boundaries,
SCPs, session policies and resource-based policies.
"""
import json
import re
from urllib.parse import unquote

ALLOWED = "allowed"
IMPLICIT_DENY = "implicitDeny"
EXPLICIT_DENY = "explicitDeny"


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def wildcard_match(pattern, value, ignore_case=False):
    """IAM wildcard match: `*` any run of characters, `?` any single character."""
    regex = "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"
    return re.match(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def load_document(document):
    """A policy document from a dict, a JSON string or a URL-encoded JSON string (as IAM stores them)."""
    if isinstance(document, dict):
        return document
    text = document.strip()
    if not text.startswith("{"):
        text = unquote(text)
    return json.loads(text)


def statements(document):
    return [s for s in _as_list(load_document(document).get("Statement")) if isinstance(s, dict)]


def _matches_action(statement, action):
    if "Action" in statement:
        return any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    return False


def _matches_resource(statement, resource):
    if "Resource" in statement:
        return any(wildcard_match(p, resource) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(wildcard_match(p, resource) for p in _as_list(statement["NotResource"]))
    return False


def evaluate(policies, action, resource="*"):
    """Decision for one action on one resource.

    policies: [{"id": source policy id, "type": source policy type, "document": dict or JSON}].
    Returns (decision, matched) where matched lists {"SourcePolicyId", "SourcePolicyType"} of the statements
    that decided (the Deny ones for explicitDeny, the Allow ones for allowed, none for implicitDeny).
    """
    allows, denies = [], []
    for policy in policies:
        for statement in statements(policy["document"]):
            if not (_matches_action(statement, action) and _matches_resource(statement, resource)):
                continue
            source = {"SourcePolicyId": policy["id"], "SourcePolicyType": policy["type"]}
            effect = statement.get("Effect")
            if effect == "Deny":
                denies.append(source)
            elif effect == "Allow":
                allows.append(source)
    if denies:
        return EXPLICIT_DENY, denies
    if allows:
        return ALLOWED, allows
    return IMPLICIT_DENY, []


def evaluation_results(policies, actions, resources=None):
    """EvaluationResults as SimulatePrincipalPolicy returns them: one per action x resource."""
    results = []
    for action in actions:
        for resource in (resources or ["*"]):
            decision, matched = evaluate(policies, action, resource)
            results.append({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decision,
                "MatchedStatements": matched,
                "MissingContextValues": [],
            })
    return results
