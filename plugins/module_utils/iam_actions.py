# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM actions the ECS blue-green flow needs - the one list - and what is derived from it.

Pure functions, no AWS: the iam_preflight module simulates these actions for a principal, and
docs/iam-policy.json is rendered from the same list (tools/render_iam_policy.py).
"""

import re

# (action, why the flow needs it). Keep in step with what the roles and modules call.
ECS_BLUE_GREEN_ACTIONS = (
    ("sts:GetCallerIdentity", "who is deploying (ecs_validate, iam_preflight)"),
    ("iam:SimulatePrincipalPolicy", "this preflight (iam_preflight)"),
    ("iam:GetRole", "resolve an assumed role to its role; check task and execution roles exist (ecs_taskdef_clone)"),
    ("iam:PassRole", "register task definitions with a task / execution role (ecs_taskdef_clone)"),
    ("ecr:DescribeImages", "image exists, digest, size (ecr_image_verify)"),
    ("ecr:BatchGetImage", "manifest media type and layers (ecr_image_verify)"),
    ("ecr:DescribeImageScanFindings", "scan findings gate (ecr_image_verify)"),
    ("ecr:StartImageScan", "scan an image that has none (ecr_image_verify)"),
    ("ecs:DescribeTaskDefinition", "clone the live task definition (ecs_taskdef_clone, ecs_slot_info)"),
    ("ecs:RegisterTaskDefinition", "register the candidate revision (ecs_taskdef_clone)"),
    ("ecs:ListTaskDefinitions", "latest ACTIVE revision of a family (ecs_taskdef_clone)"),
    ("ecs:DeregisterTaskDefinition", "drop old revisions, keep N (ecs_cleanup)"),
    ("ecs:DescribeClusters", "capacity check (ecs_validate)"),
    ("ecs:DescribeServices", "slots, rollout state (ecs_slot_info, ecs_rollout_wait)"),
    ("ecs:CreateService", "first deployment to an empty slot (ecs_green_deploy)"),
    ("ecs:UpdateService", "new revision, desired count, scale down (ecs_green_deploy, ecs_cleanup, ecs_rollback)"),
    ("ecs:ListTasks", "stopped-task reasons (ecs_rollout_wait)"),
    ("ecs:DescribeTasks", "stopped-task reasons (ecs_rollout_wait)"),
    ("ecs:TagResource", "record execution id and image on the service (ecs_green_deploy)"),
    ("elasticloadbalancing:DescribeLoadBalancers", "find the listener by load balancer and port"),
    ("elasticloadbalancing:DescribeListeners", "read the forward weights (alb_weighted_shift, ecs_slot_info)"),
    ("elasticloadbalancing:DescribeRules", "read a rule's forward weights (alb_weighted_shift)"),
    ("elasticloadbalancing:DescribeTargetGroups", "resolve target groups (alb_weighted_shift, ecs_slot_info)"),
    ("elasticloadbalancing:DescribeTargetGroupAttributes", "ensure the idle slot's target group (ecs_green_deploy)"),
    ("elasticloadbalancing:DescribeTargetHealth", "healthy targets before a shift (alb_weighted_shift, ecs_rollout_wait)"),
    ("elasticloadbalancing:DescribeTags", "ensure the idle slot's target group (ecs_green_deploy)"),
    ("elasticloadbalancing:ModifyListener", "set the listener's weights (alb_weighted_shift)"),
    ("elasticloadbalancing:ModifyRule", "set a rule's weights (alb_weighted_shift)"),
    ("elasticloadbalancing:CreateTargetGroup", "ensure the idle slot's target group (ecs_green_deploy)"),
    ("elasticloadbalancing:ModifyTargetGroup", "health-check settings of the idle slot's target group (ecs_green_deploy)"),
    ("elasticloadbalancing:RegisterTargets", "register targets (VM path, ecs_green_deploy)"),
    ("elasticloadbalancing:DeregisterTargets", "drain targets (VM path, ecs_cleanup)"),
    ("cloudwatch:GetMetricData", "compare candidate with live (cw_compare)"),
    ("ssm:GetParameter", "read the deployment lock (deploy_lock, ecs_slot_info)"),
    ("ssm:PutParameter", "take the deployment lock (deploy_lock)"),
    ("ssm:DeleteParameter", "release the deployment lock (deploy_lock)"),
    ("ssm:DescribeParameters", "secrets given as SSM parameters resolve (ecs_taskdef_clone)"),
    ("secretsmanager:DescribeSecret", "secrets given as Secrets Manager ARNs resolve (ecs_taskdef_clone)"),
    ("servicequotas:GetServiceQuota", "Fargate vCPU quota for the capacity check (ecs_live_check)"),
    ("servicequotas:GetAWSDefaultServiceQuota", "Fargate vCPU quota never changed from its default (ecs_live_check)"),
    ("ecs:ListContainerInstances", "EC2 capacity check (ecs_live_check)"),
    ("ecs:DescribeContainerInstances", "EC2 capacity check: remaining CPU / memory (ecs_live_check)"),
    ("ecs:ListServices", "find held slots (ecs_hold), revisions in use (ecs_taskdef_prune)"),
    ("ecs:ListClusters", "revisions in use in every cluster (ecs_taskdef_prune)"),
    ("ecs:UntagResource", "drop a hold's tags once it ended (ecs_hold)"),
    ("logs:CreateLogStream", "audit trail in CloudWatch Logs (deployment_audit)"),
    ("logs:PutLogEvents", "audit trail in CloudWatch Logs (deployment_audit)"),
)

ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
DENIED_DECISIONS = ("implicitDeny", "explicitDeny")
# iam:PassRole is scoped to ECS tasks, the only service the flow passes roles to.
PASS_ROLE_CONDITION = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}

ASSUMED_ROLE_RE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")
IAM_PRINCIPAL_RE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):(user|role|group)/(.+)$")
# Some endpoints (moto) answer GetCallerIdentity for a user with an sts-form ARN.
STS_USER_RE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):user/(.+)$")


def required_actions():
    """The action names of the flow, in the list's order."""
    return [action for action, dummy in ECS_BLUE_GREEN_ACTIONS]


def check_actions(actions):
    """Errors for action names that are not `service:Action`, or an empty list."""
    if not actions:
        return ["actions must name at least one IAM action (service:Action)"]
    bad = [a for a in actions if not ACTION_RE.match(str(a))]
    if bad:
        return ["actions must look like service:Action (for example ecs:UpdateService), got %s" % bad]
    return []


def _sid(service):
    return "ProgressiveDelivery" + "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", service) if part)


def policy_document(actions=None, resources="*"):
    """A least-privilege IAM policy document allowing `actions` (default: the flow's), one statement per
    service (Resource `resources`), iam:PassRole only towards ECS tasks."""
    actions = list(actions or required_actions())
    if isinstance(resources, str):
        resources = [resources]
    resource = resources[0] if len(resources) == 1 else list(resources)
    by_service = {}
    for action in actions:
        by_service.setdefault(action.split(":", 1)[0], [])
        if action not in by_service[action.split(":", 1)[0]]:
            by_service[action.split(":", 1)[0]].append(action)
    statements = []
    for service in sorted(by_service):
        granted = sorted(a for a in by_service[service] if a != "iam:PassRole")
        if granted:
            statements.append({"Sid": _sid(service), "Effect": "Allow", "Action": granted, "Resource": resource})
        if "iam:PassRole" in by_service[service]:
            statements.append({"Sid": "ProgressiveDeliveryPassRoleToEcsTasks", "Effect": "Allow", "Action": ["iam:PassRole"],
                               "Resource": resource, "Condition": PASS_ROLE_CONDITION})
    return {"Version": "2012-10-17", "Statement": statements}


def principal_for_simulation(arn):
    """The IAM ARN to simulate for a caller's ARN, and the role name when it came from an assumed role.

    `arn:aws:sts::ACCT:assumed-role/NAME/session` → (`arn:aws:iam::ACCT:role/NAME`, NAME). The role's path
    is not in an assumed-role ARN; look the role up (iam:GetRole) for the exact ARN. IAM users, roles
    and groups are returned as they are. Raises ValueError for what cannot be simulated.
    """
    arn = (arn or "").strip()
    match = ASSUMED_ROLE_RE.match(arn)
    if match:
        partition, account, name = match.group(1), match.group(2), match.group(3)
        return "arn:%s:iam::%s:role/%s" % (partition, account, name), name
    if IAM_PRINCIPAL_RE.match(arn):
        return arn, None
    match = STS_USER_RE.match(arn)
    if match:
        return "arn:%s:iam::%s:user/%s" % match.groups(), None
    if ":federated-user/" in arn:
        raise ValueError("%s is a federated user: IAM cannot simulate its policies; give principal_arn of the role or user behind it" % arn)
    if re.match(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:root$", arn):
        raise ValueError("%s is the account root user, which is not subject to IAM policies; deploy with a role or user" % arn)
    raise ValueError("principal_arn must be the ARN of an IAM user, role or group, or an assumed-role session, got %r" % arn)


def check_action_resources(action_resources, actions):
    """Errors of per-action resources ({action: [resource ARN, ...]}) for the actions checked."""
    errors = []
    for action, arns in (action_resources or {}).items():
        if action not in actions:
            errors.append("action_resources names %s, which is not among the actions checked" % action)
        if not isinstance(arns, list) or not arns or not all(isinstance(a, str) and a for a in arns):
            errors.append("action_resources.%s must be a non-empty list of resource ARNs, got %r" % (action, arns))
    return errors


def simulation_batches(actions, resources, action_resources=None):
    """[(actions, resources)] - one SimulatePrincipalPolicy call per distinct resource list, in order.

    Actions named in `action_resources` are checked on their own resources (for example iam:PassRole
    on the task and execution roles: a policy that scopes PassRole to them denies it on `*`).
    """
    action_resources = action_resources or {}
    batches = []
    for action in actions:
        wanted = list(action_resources.get(action) or resources)
        for batch_actions, batch_resources in batches:
            if batch_resources == wanted:
                if action not in batch_actions:
                    batch_actions.append(action)
                break
        else:
            batches.append(([action], wanted))
    return batches


def context_entries(actions):
    """ContextEntries for a simulation of `actions`: iam:PassRole is simulated as a pass to ECS tasks, so a
    policy that conditions PassRole on iam:PassedToService (as policy_document() does) is judged as the
    flow uses it - without the key, IAM's simulator treats the condition as failed."""
    if "iam:PassRole" not in actions:
        return []
    return [{"ContextKeyName": "iam:PassedToService", "ContextKeyValues": ["ecs-tasks.amazonaws.com"],
             "ContextKeyType": "string"}]


def simulation_report(evaluation_results, actions):
    """(allowed actions, denied [{action, decision, resource}]) from SimulatePrincipalPolicy's EvaluationResults.

    An action is allowed only when every resource it was checked on allowed it; each denied
    (action, resource) is listed with its decision. An action the results do not mention is denied
    as `missing` (the simulation never answered for it).
    """
    denied = []
    seen = set()
    for result in evaluation_results:
        action = result.get("EvalActionName")
        seen.add(action.lower() if action else action)
        per_resource = result.get("ResourceSpecificResults") or []
        if per_resource:
            for item in per_resource:
                if item.get("EvalResourceDecision") != "allowed":
                    denied.append(dict(action=action, decision=item.get("EvalResourceDecision"),
                                       resource=item.get("EvalResourceName")))
        elif result.get("EvalDecision") != "allowed":
            denied.append(dict(action=action, decision=result.get("EvalDecision"), resource=result.get("EvalResourceName") or "*"))
    for action in actions:
        if action.lower() not in seen:
            denied.append(dict(action=action, decision="missing", resource=None))
    denied_names = set(d["action"].lower() for d in denied)
    allowed = [a for a in actions if a.lower() not in denied_names]
    return allowed, denied


def describe_denied(denied):
    """`ecs:UpdateService (implicitDeny on *), ...` - one line for the failure message."""
    return ", ".join("%s (%s on %s)" % (d["action"], d["decision"], d["resource"] or "-") for d in denied)
