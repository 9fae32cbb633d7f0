# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM actions the ECS blue-green flow needs - the one list - and what is derived from it.

Pure functions, no AWS: the iam_preflight module simulates these actions for a principal, and
docs/iam-policy.json is rendered from the same list (tools/render_iam_policy.py), scoped per statement to an
inventory's names (scope_names, policy_document(names=...)). tools/iam_action_scan.py checks the list against what
plugins/, roles/ and playbooks/ call, both ways.
"""

import json
import re

# (action, why the flow needs it). Keep in step with what the roles and modules call: tests/unit/plugins/module_utils/
# test_iam_action_coverage.py scans plugins/, roles/ and playbooks/ and fails on an action called but not listed here,
# or listed here but called nowhere. Give every new action a scope in ACTION_SCOPES below.
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
    ("ecs:DescribeServices", "slots, rollout state (ecs_slot_info, ecs_rollout_wait, ecs_slot_update without the plan's view)"),
    ("ecs:UpdateService", "new revision, desired count, scale down (ecs_green_deploy, ecs_cleanup, ecs_rollback)"),
    ("ecs:ListTasks", "stopped-task reasons (ecs_rollout_wait)"),
    ("ecs:DescribeTasks", "stopped-task reasons (ecs_rollout_wait)"),
    ("ecs:TagResource", "record execution id and image on the service (ecs_green_deploy: ecs_slot_update), a hold (ecs_hold)"),
    ("elasticloadbalancing:DescribeLoadBalancers", "find the listener by load balancer and port"),
    ("elasticloadbalancing:DescribeListeners", "read the forward weights (alb_weighted_shift, ecs_slot_info)"),
    ("elasticloadbalancing:DescribeRules", "read a rule's forward weights (alb_weighted_shift)"),
    ("elasticloadbalancing:DescribeTargetGroups", "resolve target groups (alb_weighted_shift, ecs_slot_info)"),
    ("elasticloadbalancing:DescribeTargetGroupAttributes", "the candidate's target group (community.aws.elb_target_group[_info])"),
    ("elasticloadbalancing:DescribeTargetHealth", "healthy targets before a shift (alb_weighted_shift, ecs_rollout_wait)"),
    ("elasticloadbalancing:DescribeTags", "the candidate's target group (community.aws.elb_target_group[_info])"),
    ("elasticloadbalancing:ModifyListener", "set the listener's weights (alb_weighted_shift)"),
    ("elasticloadbalancing:ModifyRule", "set a rule's weights (alb_weighted_shift)"),
    ("elasticloadbalancing:ModifyTargetGroup", "health-check settings of the candidate's target group (ecs_green_deploy: ecs_slot_update)"),
    ("cloudwatch:GetMetricData", "compare candidate with live (cw_compare)"),
    ("ssm:GetParameter", "read the deployment lock (deploy_lock, ecs_slot_info)"),
    ("ssm:PutParameter", "take and renew the deployment lock (deploy_lock; ecs_hold before a blocking hold)"),
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
    ("ecs:DescribeClusters", "the cluster's registered capacity (ecs_live_check, EC2 launch type)"),
    ("ecs:DeregisterTaskDefinition", "old revisions beyond ecs_cleanup_keep_revisions, never one a service runs (ecs_taskdef_prune)"),
    ("logs:CreateLogStream", "audit trail in CloudWatch Logs (deployment_audit)"),
    ("logs:PutLogEvents", "audit trail in CloudWatch Logs (deployment_audit)"),
)

# The VM path (roles/vm_deploy): target registration around each batch's switch (elb_target_batch), the fleet's
# deployment lock (deploy_lock: the ECS flow's actions, on the VM lock's parameter, see SCOPE_STATEMENTS), and an
# optional S3 package.
VM_ROLLING_ACTIONS = (
    ("elasticloadbalancing:DescribeTargetGroups", "resolve the target group by name (elb_target_batch)"),
    ("elasticloadbalancing:DescribeTargetHealth", "wait for draining / healthy (elb_target_batch)"),
    ("elasticloadbalancing:RegisterTargets", "put the batch back in (elb_target_batch)"),
    ("elasticloadbalancing:DeregisterTargets", "take the batch out (elb_target_batch)"),
    ("s3:GetObject", "download the package and its .sha256 sidecar (amazon.aws.s3_object, when vm_deploy_s3_bucket is set)"),
    ("s3:ListBucket", "amazon.aws.s3_object checks the bucket and the key exist (HeadBucket; HeadObject of a missing key)"),
)

# What a Condition of the rendered policy says, per action that has one.
ACTION_CONDITIONS = {
    "iam:PassRole": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    # ListTasks' only resource type is the container instance; the cluster is a condition key.
    "ecs:ListTasks": {"ArnEquals": {"ecs:cluster": "arn:{partition}:ecs:{region}:{account}:cluster/{cluster}"}},
}

# Why an action keeps Resource "*": AWS's Service Authorization Reference lists no resource type for it (a policy
# must then name "*"), or only one the flow cannot name in advance.
WILDCARD_REASONS = {
    "sts:GetCallerIdentity": "no resource type (and AWS answers it even without a permission)",
    "ecr:GetAuthorizationToken": "no resource type",
    "ecs:DescribeTaskDefinition": "no resource type",
    "ecs:RegisterTaskDefinition": "no resource type; the roles it passes are scoped by iam:PassRole",
    "ecs:ListTaskDefinitions": "no resource type",
    "ecs:DeregisterTaskDefinition": "no resource type",
    "ecs:ListTasks": "only container-instance, which Fargate tasks have none of; narrowed by the ecs:cluster condition",
    "cloudwatch:GetMetricData": "no resource type",
    "ssm:DescribeParameters": "no resource type",
    "iam:ListAccountAliases": "no resource type",
    "servicequotas:GetServiceQuota": "scoped to the quota resource only when the quota code is known in advance",
    "servicequotas:GetAWSDefaultServiceQuota": "no resource type",
    "ecs:ListServices": "no resource type (the cluster is a condition key only)",
    "ecs:ListClusters": "no resource type",
    "ecs:DescribeClusters": "read-only, for the EC2 capacity check; the cluster ARN would do, left at *",
    "ecs:ListContainerInstances": "read-only listing of the cluster's instances for the EC2 capacity check; left at *",
}
for _action in ("DescribeLoadBalancers", "DescribeListeners", "DescribeRules", "DescribeTargetGroups",
                "DescribeTargetGroupAttributes", "DescribeTargetHealth", "DescribeTags"):
    WILDCARD_REASONS["elasticloadbalancing:" + _action] = "no resource type (every ELBv2 Describe* action)"

# Resource kind of every action the rendered policy grants: one statement per kind (Sid, Resource templates filled
# from the inventory's names, see policy_names()). Kind "any" is Resource "*" and needs a WILDCARD_REASONS entry.
SCOPE_STATEMENTS = (
    # kind, Sid, resource templates ({service}, {target_group}, ... expand over every name in their list)
    ("any", "NoResourceLevelPermissions", ("*",)),
    ("cluster_tasks", "ListTasksInTheCluster", ("*",)),
    ("service", "SlotServices", ("arn:{partition}:ecs:{region}:{account}:service/{cluster}/{service}",)),
    ("task", "TasksOfTheCluster", ("arn:{partition}:ecs:{region}:{account}:task/{cluster}/*",)),
    ("target_group", "SlotTargetGroups", ("arn:{partition}:elasticloadbalancing:{region}:{account}:targetgroup/{target_group}/*",)),
    ("listener", "ListenersOfTheLoadBalancer",
     ("arn:{partition}:elasticloadbalancing:{region}:{account}:listener/app/{load_balancer}/*",)),
    ("listener_rule", "ListenerRulesOfTheLoadBalancer",
     ("arn:{partition}:elasticloadbalancing:{region}:{account}:listener-rule/app/{load_balancer}/*",)),
    ("vm_target_group", "VmTargetGroups",
     ("arn:{partition}:elasticloadbalancing:{region}:{account}:targetgroup/{vm_target_group}/*",)),
    # The lock and its claim (<lock>.claim: every change of an existing lock is made under it, deploy_lock).
    # The VM path's locks (vm_rolling_lock_name, one per fleet; default /progressive-delivery/vm/<hosts group>).
    ("lock", "DeploymentLockParameter", ("arn:{partition}:ssm:{region}:{account}:parameter{lock}",
                                         "arn:{partition}:ssm:{region}:{account}:parameter{lock}.claim",
                                         "arn:{partition}:ssm:{region}:{account}:parameter{vm_lock}",
                                         "arn:{partition}:ssm:{region}:{account}:parameter{vm_lock}.claim")),
    ("repository", "EcrRepository", ("arn:{partition}:ecr:{region}:{account}:repository/{repository}",)),
    ("pass_role", "PassTaskRolesToEcsTasks", ("arn:{partition}:iam::{account}:role/{pass_role}",)),
    ("read_role", "ReadTaskRoles", ("arn:{partition}:iam::{account}:role/{read_role}",)),
    ("principal", "SimulateTheDeployer", ("{principal}",)),
    ("assume_role", "AssumeTheDeployerRole", ("arn:{partition}:iam::{account}:role/{assume_role}",)),
    ("container_instance", "ContainerInstancesOfTheCluster",
     ("arn:{partition}:ecs:{region}:{account}:container-instance/{cluster}/*",)),
    ("secret", "TaskSecrets", ("arn:{partition}:secretsmanager:{region}:{account}:secret:{secret}",)),
    ("log_group", "AuditLogGroup", ("arn:{partition}:logs:{region}:{account}:log-group:{log_group}:*",)),
    ("bucket", "PackageBucket", ("arn:{partition}:s3:::{bucket}",)),
    ("object", "PackageObjects", ("arn:{partition}:s3:::{bucket}/*",)),
)

ACTION_SCOPES = {
    "sts:GetCallerIdentity": "any",
    "iam:SimulatePrincipalPolicy": "principal",
    "iam:GetRole": "read_role",
    "iam:PassRole": "pass_role",
    "iam:ListAccountAliases": "any",
    "ecr:DescribeImages": "repository",
    "ecr:BatchGetImage": "repository",
    "ecr:DescribeImageScanFindings": "repository",
    "ecr:StartImageScan": "repository",
    "ecr:GetAuthorizationToken": "any",
    "ecs:DescribeTaskDefinition": "any",
    "ecs:RegisterTaskDefinition": "any",
    "ecs:ListTaskDefinitions": "any",
    "ecs:DeregisterTaskDefinition": "any",
    "ecs:DescribeServices": "service",
    "ecs:UpdateService": "service",
    "ecs:CreateService": "service",
    "ecs:DeleteService": "service",
    "ecs:TagResource": "service",
    "ecs:UntagResource": "service",
    "ecs:ListTasks": "cluster_tasks",
    "ecs:DescribeTasks": "task",
    "elasticloadbalancing:ModifyListener": "listener",
    "elasticloadbalancing:CreateListener": "listener",
    "elasticloadbalancing:ModifyRule": "listener_rule",
    "elasticloadbalancing:ModifyTargetGroup": "target_group",
    "elasticloadbalancing:ModifyTargetGroupAttributes": "target_group",
    "elasticloadbalancing:CreateTargetGroup": "target_group",
    "elasticloadbalancing:AddTags": "target_group",
    "elasticloadbalancing:RegisterTargets": "vm_target_group",
    "elasticloadbalancing:DeregisterTargets": "vm_target_group",
    "cloudwatch:GetMetricData": "any",
    "ssm:GetParameter": "lock",
    "ssm:PutParameter": "lock",
    "ssm:DeleteParameter": "lock",
    "ssm:AddTagsToResource": "lock",
    "ssm:GetParameters": "lock",
    "ssm:GetParameterHistory": "lock",
    "ssm:LabelParameterVersion": "lock",
    "ecs:DescribeContainerInstances": "container_instance",
    "ecs:ListContainerInstances": "any",
    "ecs:ListServices": "any",
    "ecs:ListClusters": "any",
    "ecs:DescribeClusters": "any",
    "servicequotas:GetServiceQuota": "any",
    "servicequotas:GetAWSDefaultServiceQuota": "any",
    "sts:AssumeRole": "assume_role",
    "ssm:DescribeParameters": "any",
    "secretsmanager:DescribeSecret": "secret",
    "logs:CreateLogStream": "log_group",
    "logs:PutLogEvents": "log_group",
    "s3:GetObject": "object",
    "s3:ListBucket": "bucket",
}
for _action in WILDCARD_REASONS:
    ACTION_SCOPES.setdefault(_action, "any")

# amazon.aws / community.aws modules the roles and playbooks use: the actions each calls with the arguments the roles
# give it ("calls"), and actions its code may call that the flow does not grant, with why ("not_granted"). Checked
# against the module's source by the coverage test (every action its code can call is in one of the two, unless
# not_granted has "*": the rest of a module used for one mode only); a role using a module missing here fails it.
MODULE_ACTIONS = {
    "amazon.aws.sts_assume_role": {
        "calls": ["sts:AssumeRole"],
        "not_granted": {}},
    "amazon.aws.aws_caller_info": {
        "calls": ["sts:GetCallerIdentity"],
        "not_granted": {"iam:ListAccountAliases": "the module leaves account_alias out when it is denied; nothing uses it"}},
    "amazon.aws.s3_object": {
        "calls": ["s3:GetObject", "s3:ListBucket"],
        "not_granted": {"s3:GetBucketOwnershipControls": "read for object ACLs; the module goes on without it",
                        "*": "modes other than get and getstr (uploads, deletes, ACLs, tags) are not used"}},
    "community.aws.ecs_service": {
        "calls": ["ecs:DescribeServices", "ecs:UpdateService"],
        "not_granted": {"ecs:CreateService": "the slot services exist (ecs_validate refuses otherwise)",
                        "ecs:DeleteService": "state is always present",
                        "ec2:DescribeSubnets": "no network_configuration is given (security groups by name)",
                        "ec2:DescribeSecurityGroups": "no network_configuration is given (security groups by name)"}},
    "community.aws.elb_target": {
        "calls": ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
                  "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
        "not_granted": {}},
    "community.aws.elb_target_group": {
        "calls": ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
                  "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetHealth",
                  "elasticloadbalancing:ModifyTargetGroup"],
        "not_granted": {"elasticloadbalancing:CreateTargetGroup": "the candidate's target group exists (read just before)",
                        "elasticloadbalancing:ModifyTargetGroupAttributes": "no attribute option is given",
                        "elasticloadbalancing:RegisterTargets": "modify_targets is false",
                        "elasticloadbalancing:DeregisterTargets": "modify_targets is false",
                        "elasticloadbalancing:AddTags": "no tags option is given",
                        "elasticloadbalancing:RemoveTags": "no tags option is given",
                        "elasticloadbalancing:DeleteTargetGroup": "state is always present"}},
    "community.aws.elb_target_group_info": {
        "calls": ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
                  "elasticloadbalancing:DescribeTags"],
        "not_granted": {"elasticloadbalancing:DescribeTargetHealth": "collect_targets_health is false"}},
}

# Actions no boto3 call names: AWS checks them while it serves another call.
IMPLIED_ACTIONS = {
    "iam:PassRole": "ecs:RegisterTaskDefinition with a task or execution role (ecs_taskdef_clone)",
}

# Adoption (playbooks/ecs_adopt.yml) is run once per service, by someone allowed to create and delete load-balancer and
# ECS resources the deployment never creates or deletes: its own group, rendered into docs/iam-policy-adopt.json
# (tools/render_iam_policy.py --set adopt), to grant beside - not inside - the deployer's policy.
ECS_ADOPT_ACTIONS = (
    ("ecs:DescribeServices", "the service to adopt and the slots (ecs_adopt_info, ecs_service)"),
    ("ecs:CreateService", "slot b's service from slot a's (ecs_service)"),
    ("ecs:TagResource", "slot b's service gets slot a's tags at creation (ecs_service)"),
    ("ecs:DeleteService", "fold back: the removed slot's service (ecs_service state=absent)"),
    ("ecs:UpdateService", "fold back: scale the removed slot's service to 0 before deleting it (ecs_service force_deletion)"),
    ("elasticloadbalancing:DescribeLoadBalancers", "the load balancer (ecs_adopt_info, alb_weighted_shift, alb_test_route)"),
    ("elasticloadbalancing:DescribeListeners", "the production and test listeners (ecs_adopt_info, alb_test_route)"),
    ("elasticloadbalancing:DescribeRules", "a given rule, the test header rule (ecs_adopt_info, alb_test_route)"),
    ("elasticloadbalancing:DescribeTargetGroups", "slot a's and slot b's target groups (ecs_adopt_info, elb_target_group)"),
    ("elasticloadbalancing:DescribeTargetGroupAttributes", "copy slot a's target group attributes (ecs_adopt_info, elb_target_group)"),
    ("elasticloadbalancing:DescribeTags", "copy slot a's target group tags (ecs_adopt_info, elb_target_group)"),
    ("elasticloadbalancing:CreateTargetGroup", "slot b's target group (elb_target_group)"),
    ("elasticloadbalancing:ModifyTargetGroup", "slot b's health check (elb_target_group)"),
    ("elasticloadbalancing:ModifyTargetGroupAttributes", "slot b's deregistration delay, stickiness (elb_target_group)"),
    ("elasticloadbalancing:AddTags", "slot b's target group tags (elb_target_group)"),
    ("elasticloadbalancing:ModifyListener", "plain forward to weighted forward, and back (alb_weighted_shift)"),
    ("elasticloadbalancing:ModifyRule", "the same on a given rule (alb_weighted_shift)"),
    ("elasticloadbalancing:CreateListener", "the test listener (alb_test_route)"),
    ("elasticloadbalancing:DeleteListener", "fold back: the test listener (alb_test_route)"),
    ("elasticloadbalancing:CreateRule", "the test header rule (alb_test_route)"),
    ("elasticloadbalancing:DeleteRule", "fold back: the test header rule (alb_test_route)"),
    ("elasticloadbalancing:DeleteTargetGroup", "fold back: the removed slot's target group (elb_target_group)"),
    ("ssm:GetParameter", "fold back is refused while the deployment lock is held (ecs_adopt_info)"),
)

ACTION_SETS = {"deploy": ECS_BLUE_GREEN_ACTIONS, "adopt": ECS_ADOPT_ACTIONS}

ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
DENIED_DECISIONS = ("implicitDeny", "explicitDeny")
# iam:PassRole is scoped to ECS tasks, the only service the flow passes roles to.
PASS_ROLE_CONDITION = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}

ASSUMED_ROLE_RE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")
IAM_PRINCIPAL_RE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):(user|role|group)/(.+)$")
# Some endpoints (moto) answer GetCallerIdentity for a user with an sts-form ARN.
STS_USER_RE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):user/(.+)$")


def required_actions():
    """The action names of the ECS flow, in the list's order (what iam_preflight simulates by default)."""
    return [action for action, dummy in ECS_BLUE_GREEN_ACTIONS]


# The caller's own, before any deployment role is assumed: the preflight simulates the role it assumed, which needs
# none of these, so they are rendered into the policy but not simulated.
CALLER_ACTIONS = (
    ("sts:AssumeRole", "assume the deployment role when aws_assume_role_arn is set (aws_assume_role)"),
)


def policy_actions():
    """Every action the rendered policy grants: the ECS flow's, the caller's, then the VM path's, each once."""
    out = []
    for action, dummy in ECS_BLUE_GREEN_ACTIONS + CALLER_ACTIONS + VM_ROLLING_ACTIONS:
        if action not in out:
            out.append(action)
    return out


def adopt_actions():
    """The action names adoption (and folding back) needs, in the list's order."""
    return [action for action, dummy in ECS_ADOPT_ACTIONS]


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


# Names a scoped policy is rendered for: singular placeholder in SCOPE_STATEMENTS -> list key in the names.
LIST_NAMES = {"service": "services", "target_group": "target_groups", "vm_target_group": "vm_target_groups",
              "vm_lock": "vm_locks",
              "pass_role": "pass_roles", "read_role": "read_roles", "principal": "deployer_arns", "secret": "secrets",
              "log_group": "log_groups", "bucket": "buckets", "assume_role": "assume_roles"}
SCALAR_NAMES = ("partition", "region", "account", "cluster", "app", "load_balancer", "lock", "repository")
SCOPE_KEYS = tuple(SCALAR_NAMES) + tuple(sorted(LIST_NAMES.values())) + ("deployer_roles", "account_id")


def check_scope(scope):
    """Errors of a scope dict (names the policy is rendered for), naming the key at fault."""
    errors = []
    for key, value in (scope or {}).items():
        if key not in SCOPE_KEYS:
            errors.append("scope.%s is not a known name (known: %s)" % (key, ", ".join(SCOPE_KEYS)))
        elif key in LIST_NAMES.values() or key == "deployer_roles":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                errors.append("scope.%s must be a list of names, got %r" % (key, value))
        elif not isinstance(value, str) or not value:
            errors.append("scope.%s must be a non-empty string, got %r" % (key, value))
    return errors


def scope_names(scope):
    """The names a scoped policy is rendered for, from `scope` (missing ones get the collection's defaults:
    slots <app>-a / <app>-b, load balancer <app>-alb, lock /progressive-delivery/locks/<cluster>/<app>, repository
    <app>, roles <app>-task-role / <app>-execution-role; secrets, log groups, VM target groups and buckets `*`, VM locks
    /progressive-delivery/vm/*).
    An ARN given for a role, principal or secret is used as it is."""
    scope = dict(scope or {})
    if "account_id" in scope and "account" not in scope:
        scope["account"] = scope["account_id"]
    app = scope.get("app") or "*"
    cluster = scope.get("cluster") or "*"
    names = {
        "partition": scope.get("partition") or "aws",
        "region": scope.get("region") or "*",
        "account": scope.get("account") or "*",
        "cluster": cluster,
        "app": app,
        "load_balancer": scope.get("load_balancer") or "%s-alb" % app,
        "lock": scope.get("lock") or "/progressive-delivery/locks/%s/%s" % (cluster, app),
        "repository": scope.get("repository") or app,
        "services": list(scope.get("services") or ["%s-a" % app, "%s-b" % app]),
        "target_groups": list(scope.get("target_groups") or ["%s-a" % app, "%s-b" % app]),
        "pass_roles": list(scope.get("pass_roles") or ["%s-task-role" % app, "%s-execution-role" % app]),
        "secrets": list(scope.get("secrets") or ["*"]),
        "log_groups": list(scope.get("log_groups") or ["*"]),
        "vm_target_groups": list(scope.get("vm_target_groups") or ["*"]),
        # Given empty by a run that takes no VM lock (the ECS preflight): no VM lock resource is checked then.
        "vm_locks": list(scope["vm_locks"] if scope.get("vm_locks") is not None else ["/progressive-delivery/vm/*"]),
        "buckets": list(scope.get("buckets") or ["*"]),
    }
    if not names["lock"].startswith("/"):
        names["lock"] = "/" + names["lock"]
    names["vm_locks"] = [n if n.startswith("/") else "/" + n for n in names["vm_locks"]]
    names["assume_roles"] = list(scope.get("assume_roles") or scope.get("deployer_roles") or ["*"])
    names["read_roles"] = names["pass_roles"] + [r for r in scope.get("deployer_roles") or [] if r not in names["pass_roles"]]
    names["deployer_arns"] = list(scope.get("deployer_arns") or [
        "arn:%s:iam::%s:user/*" % (names["partition"], names["account"]),
        "arn:%s:iam::%s:role/*" % (names["partition"], names["account"])])
    # Secrets Manager adds 6 random characters to a secret's name in its ARN.
    names["secrets"] = [s if s.startswith("arn:") or s.endswith("*") else s + "-??????" for s in names["secrets"]]
    return names


def _expand(template, names):
    """Every resource a template names: the product over the list names it uses."""
    out = [template]
    for singular, plural in LIST_NAMES.items():
        token = "{%s}" % singular
        if any(token in t for t in out):
            out = [t.replace(token, value) for t in out for value in names[plural]]
    resources = []
    for item in out:
        for key in SCALAR_NAMES:
            item = item.replace("{%s}" % key, names[key])
        if item.count("arn:") > 1:                      # an ARN given in place of a name
            item = item[item.rindex("arn:"):]
        if item.endswith("*.claim"):                    # the claim of a lock given as a pattern: the pattern has it
            continue
        if item not in resources:
            resources.append(item)
    return resources


def _fill(value, names):
    if isinstance(value, dict):
        return dict((k, _fill(v, names)) for k, v in value.items())
    for key in SCALAR_NAMES:
        value = value.replace("{%s}" % key, names[key])
    return value


def scope_of(action):
    """The resource kind an action is granted on (ACTION_SCOPES); KeyError for an action without one."""
    return ACTION_SCOPES[action]


def action_resources(names, actions=None):
    """{action: [resource ARN patterns]} the scoped policy grants each action on, for `names` (scope_names())."""
    statements = dict((kind, templates) for kind, dummy, templates in SCOPE_STATEMENTS)
    out = {}
    for action in actions or policy_actions():
        templates = statements[ACTION_SCOPES.get(action, "any")]
        out[action] = [r for t in templates for r in _expand(t, names)]
    return out


def action_condition(action, names=None):
    """The Condition the scoped policy puts on `action` (None when it has none)."""
    condition = ACTION_CONDITIONS.get(action)
    if condition is None:
        return None
    return _fill(condition, names) if names else condition


def policy_document(actions=None, resources="*", names=None):
    """A least-privilege IAM policy document allowing `actions` (default: policy_actions()).

    With `names` (scope_names()): one statement per resource kind (SCOPE_STATEMENTS), each on the resources those
    names give, `*` only for the actions AWS gives no resource type (WILDCARD_REASONS) - an action without a kind in
    ACTION_SCOPES lands in statement `Unscoped` on `*`. Without: one statement per service on `resources`.
    iam:PassRole always only towards ECS tasks (its own statement, with the iam:PassedToService condition).
    """
    actions = list(actions or policy_actions())
    if names is not None:
        return _scoped_document(actions, names)
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


def _scoped_document(actions, names):
    resources = action_resources(names, actions)
    statements = []
    for kind, sid, dummy in SCOPE_STATEMENTS + (("unscoped", "Unscoped", ("*",)),):
        if kind == "unscoped":
            members = sorted(set(a for a in actions if a not in ACTION_SCOPES))
        else:
            members = sorted(set(a for a in actions if ACTION_SCOPES.get(a) == kind))
        if not members:
            continue
        arns = resources[members[0]] if kind != "unscoped" else ["*"]
        statement = {"Sid": sid, "Effect": "Allow", "Action": members, "Resource": arns[0] if len(arns) == 1 else arns}
        conditions = [action_condition(a, names) for a in members if action_condition(a)]
        if conditions:
            statement["Condition"] = conditions[0]
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def statement_reasons(names=None):
    """[(Sid, actions, why `*` or what it is scoped to)] - the explanation the policy JSON cannot carry."""
    document = _scoped_document(policy_actions(), names or scope_names({}))
    out = []
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            why = "Resource * - " + "; ".join("%s: %s" % (a, WILDCARD_REASONS.get(a, "no kind in ACTION_SCOPES"))
                                              for a in statement["Action"])
        else:
            arns = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            why = "scoped to " + ", ".join(arns)
        if statement.get("Condition"):
            why += "; condition %s" % json.dumps(statement["Condition"], sort_keys=True)
        out.append((statement["Sid"], statement["Action"], why))
    return out


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


# Results one simulation call may answer: AWS answers each action on each resource of the call (action x resource
# results, or one result per action with ResourceSpecificResults), at most 1000 items a page.
SIMULATION_MAX_PAIRS = 1000


def wanted_resources(actions, resources, action_resources=None):
    """{action: [resource, ...]} - what each action is judged on: its own resources, else `resources`."""
    action_resources = action_resources or {}
    return dict((action, list(action_resources.get(action) or resources)) for action in actions)


def simulation_batches(actions, resources, action_resources=None, max_pairs=SIMULATION_MAX_PAIRS):
    """[(actions, resources)] - as few SimulatePrincipalPolicy calls as the API allows.

    AWS evaluates every action of a call on every resource of it, so one call can hold actions with different
    resources (each judged only on its own by simulation_report(wanted=...)): the actions, in order, go into one call
    with the union of their resources while actions x resources stays within `max_pairs` (one page of answers).
    Actions named in `action_resources` are checked on their own resources (for example iam:PassRole on the task and
    execution roles: a policy that scopes PassRole to them denies it on `*`).
    """
    wanted = wanted_resources(actions, resources, action_resources)
    batches = []
    for action in actions:
        if any(action in batch[0] for batch in batches):
            continue
        if batches:
            batch_actions, batch_resources = batches[-1]
            union = batch_resources + [r for r in wanted[action] if r not in batch_resources]
            if (len(batch_actions) + 1) * len(union) <= max_pairs:
                batch_actions.append(action)
                batch_resources[:] = union
                continue
        batches.append(([action], list(dict.fromkeys(wanted[action]))))
    return batches


def context_entries(actions, names=None):
    """ContextEntries for a simulation of `actions`: iam:PassRole is simulated as a pass to ECS tasks, so a
    policy that conditions PassRole on iam:PassedToService (as policy_document() does) is judged as the
    flow uses it - without the key, IAM's simulator treats the condition as failed. With `names`, ecs:ListTasks
    is simulated in the deployment's cluster (ecs:cluster), the condition the scoped policy puts on it."""
    entries = []
    if "iam:PassRole" in actions:
        entries.append({"ContextKeyName": "iam:PassedToService", "ContextKeyValues": ["ecs-tasks.amazonaws.com"],
                        "ContextKeyType": "string"})
    if names and "ecs:ListTasks" in actions:
        entries.append({"ContextKeyName": "ecs:cluster", "ContextKeyType": "string",
                        "ContextKeyValues": [action_condition("ecs:ListTasks", names)["ArnEquals"]["ecs:cluster"]]})
    return entries


def simulation_report(evaluation_results, actions, wanted=None):
    """(allowed actions, denied [{action, decision, resource}]) from SimulatePrincipalPolicy's EvaluationResults.

    An action is allowed only when every resource it was checked on allowed it; each denied
    (action, resource) is listed with its decision. Results come one per action and resource, or one per action with
    ResourceSpecificResults; both are read. With `wanted` ({action: resources}, wanted_resources()), an action is
    judged only on its own resources - a merged call also answers it on the other actions' resources - and each of
    its resources the simulation did not answer is denied as `missing`; an action the results do not mention at all
    is denied as `missing` (resource None).
    """
    wanted_lower = dict((a.lower(), set(r)) for a, r in (wanted or {}).items())
    denied = []
    answered = {}
    for result in evaluation_results:
        action = result.get("EvalActionName")
        key = action.lower() if action else action
        answered.setdefault(key, set())
        per_resource = result.get("ResourceSpecificResults") or []
        pairs = [(item.get("EvalResourceName"), item.get("EvalResourceDecision")) for item in per_resource] or \
            [(result.get("EvalResourceName") or "*", result.get("EvalDecision"))]
        for resource, decision in pairs:
            if key in wanted_lower and resource not in wanted_lower[key]:
                continue
            answered[key].add(resource)
            if decision != "allowed":
                denied.append(dict(action=action, decision=decision, resource=resource))
    for action in actions:
        key = action.lower()
        if key not in answered:
            denied.append(dict(action=action, decision="missing", resource=None))
        elif key in wanted_lower:
            denied += [dict(action=action, decision="missing", resource=r)
                       for r in (wanted or {}).get(action, []) if r not in answered[key]]
    denied_names = set(d["action"].lower() for d in denied)
    allowed = [a for a in actions if a.lower() not in denied_names]
    return allowed, denied


def describe_denied(denied):
    """`ecs:UpdateService (implicitDeny on *), ...` - one line for the failure message."""
    return ", ".join("%s (%s on %s)" % (d["action"], d["decision"], d["resource"] or "-") for d in denied)
