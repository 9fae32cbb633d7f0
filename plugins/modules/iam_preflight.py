#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_preflight
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Check before a deployment that a principal may call every AWS action the run needs
description:
  - Simulates (IAM C(SimulatePrincipalPolicy)) the actions a deployment needs for a principal and fails listing
    every denied action, with its decision (C(implicitDeny), C(explicitDeny)) and the resource it was checked on -
    so a missing permission stops the run before anything changed, not halfway through a traffic shift.
  - The default actions are the ECS blue-green flow's, the same list the collection's documented IAM policy
    (C(docs/iam-policy.json)) is generated from.
  - The default principal is the caller (C(sts:GetCallerIdentity)); an assumed-role session
    (C(arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION)) is simulated as its role, looked up with C(iam:GetRole) for
    the role's exact ARN (with its path).
  - Read-only; runs the same in check mode and never reports changed.
options:
  principal_arn:
    description:
      - ARN of the IAM user, role or group to check, or of an assumed-role session (resolved to its role).
      - Defaults to the caller.
    type: str
  actions:
    description: Actions to simulate (C(service:Action)). Defaults to the ECS blue-green flow's list.
    type: list
    elements: str
  resources:
    description: Resource ARNs to check the actions on.
    type: list
    elements: str
    default: ['*']
  action_resources:
    description:
      - Resource ARNs per action, overriding O(resources) for that action - for example the task and execution
        roles for C(iam:PassRole), which a least-privilege policy allows only on those roles (and so denies on C(*)).
    type: dict
    default: {}
  scope:
    description:
      - Names of the deployment the least-privilege policy is scoped to (as C(tools/render_iam_policy.py --inventory)
        renders it). Each action is then checked on the resources that scoped policy grants it on - the slot services,
        target groups, the load balancer's listeners, the lock parameter, the repository, the task roles - and
        C(ecs:ListTasks) in the cluster (context key C(ecs:cluster)). O(action_resources) still wins for an action it names.
      - "Keys: C(cluster), C(app), C(load_balancer), C(lock), C(repository), C(services), C(target_groups),
        C(pass_roles), C(deployer_roles), C(secrets), C(log_groups), C(deployer_arns), C(account_id), C(region),
        C(partition). C(account_id), C(partition) and C(region) default to the principal's and the module's; the
        rest as the collection's defaults (slots C(<app>-a) / C(<app>-b), ...)."
    type: dict
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
notes:
  - Permissions - C(sts:GetCallerIdentity), C(iam:SimulatePrincipalPolicy) on the principal, C(iam:GetRole) (optional,
    for a role with a path).
  - The simulation covers identity-based policies and permissions boundaries of the principal, not resource policies
    or service control policies.
  - One C(SimulatePrincipalPolicy) call holds every action on the union of their resources (AWS evaluates each
    action on each resource of a call); each action is judged only on its own resources. Calls are split only when
    actions x resources would exceed one page of answers (1000).
  - C(iam:PassRole) is simulated with the context key C(iam:PassedToService=ecs-tasks.amazonaws.com), the only service
    the flow passes roles to.
"""

EXAMPLES = r"""
- name: Can the caller run a blue-green deployment?
  progressive.delivery.iam_preflight:

- name: Check the AWX job role for a narrower set of actions on one cluster's services
  progressive.delivery.iam_preflight:
    principal_arn: arn:aws:iam::123456789012:role/awx-deployer
    actions:
      - ecs:UpdateService
      - ecs:DescribeServices
    resources:
      - arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/*

- name: The flow's actions, each on the resources the scoped policy of the deployment's names grants it on
  progressive.delivery.iam_preflight:
    scope:
      cluster: prod-ecs-cluster
      app: myapp
      pass_roles: [myapp-task-role, myapp-execution-role]
- name: The flow's actions, with iam:PassRole checked on the roles the task definition uses
  progressive.delivery.iam_preflight:
    action_resources:
      iam:PassRole:
        - arn:aws:iam::123456789012:role/myapp-task-role
        - arn:aws:iam::123456789012:role/myapp-execution-role
"""

RETURN = r"""
principal_arn:
  description: ARN of the principal simulated.
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:role/deploy/awx-deployer
caller_arn:
  description: The caller's ARN, when the principal was taken from the caller.
  returned: when O(principal_arn) is not given
  type: str
allowed:
  description: Actions allowed on every resource checked.
  returned: always
  type: list
  elements: str
denied:
  description: Each denied action with its decision and the resource it was checked on.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: The action.
      type: str
    decision:
      description: C(implicitDeny), C(explicitDeny) (or C(missing) when the simulation did not answer for it).
      type: str
    resource:
      description: The resource checked.
      type: str
  sample: [{"action": "ecs:UpdateService", "decision": "implicitDeny", "resource": "*"}]
"""

try:
    from botocore.parsers import ResponseParserError
except ImportError:
    ResponseParserError = Exception  # AnsibleAWSModule reports the missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import iam_actions

SIMULATE_PAGE_SIZE = 1000
MAX_PAGES = 100


def resolve_principal(module, iam, arn):
    """The IAM ARN to simulate for `arn` (assumed-role sessions become their role, with its path when readable)."""
    try:
        principal, role_name = iam_actions.principal_for_simulation(arn)
    except ValueError as e:
        module.fail_json(msg=str(e))
    if role_name:
        try:
            principal = iam.get_role(aws_retry=True, RoleName=role_name)["Role"]["Arn"]
        except (BotoCoreError, ClientError) as e:
            # Without iam:GetRole the path stays unknown; the path-less ARN is right for roles without a path.
            module.warn("could not read role %s (%s); simulating %s" % (role_name, e, principal))
    return principal


def simulate(iam, principal, actions, resources, names=None):
    kwargs = dict(PolicySourceArn=principal, ActionNames=actions, ResourceArns=resources,
                  PaginationConfig=dict(PageSize=SIMULATE_PAGE_SIZE, MaxItems=SIMULATE_PAGE_SIZE * MAX_PAGES))
    if iam_actions.context_entries(actions, names):
        kwargs["ContextEntries"] = iam_actions.context_entries(actions, names)
    return reads.paginate(iam, "simulate_principal_policy", "EvaluationResults", **kwargs)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            principal_arn=dict(type="str"),
            actions=dict(type="list", elements="str"),
            resources=dict(type="list", elements="str", default=["*"]),
            action_resources=dict(type="dict", default={}),
            scope=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    actions = p["actions"] if p["actions"] is not None else iam_actions.required_actions()
    errors = iam_actions.check_actions(actions)
    if not p["resources"]:
        errors.append("resources must name at least one resource ARN (or '*')")
    errors += iam_actions.check_action_resources(p["action_resources"], actions)
    errors += iam_actions.check_scope(p["scope"])
    if p["principal_arn"]:
        try:
            iam_actions.principal_for_simulation(p["principal_arn"])
        except ValueError as e:
            errors.append(str(e))
    if errors:
        module.fail_json(msg="; ".join(errors))

    result = dict(changed=False)
    # A simulation endpoint that errors (HTTP 500) must fail in seconds, not after minutes of retries.
    # (botocore's own retries kept to 4 attempts for the same reason; throttling still gets 4 x 4 tries.)
    iam = module.client("iam", retry_decorator=jittered_backoff(retries=3, delay=1, max_delay=4),
                        config={"retries": {"mode": "standard", "total_max_attempts": 4}})
    caller = p["principal_arn"]
    if not caller:
        sts = module.client("sts", retry_decorator=jittered_backoff())
        try:
            caller = sts.get_caller_identity(aws_retry=True)["Arn"]
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="sts:GetCallerIdentity failed; cannot tell whose permissions to check (give principal_arn)")
        result["caller_arn"] = caller
    principal = resolve_principal(module, iam, caller)
    result["principal_arn"] = principal
    names = None
    action_resources = dict(p["action_resources"])
    if p["scope"] is not None:
        parts = parse_aws_arn(principal) or {}
        partition, account = parts.get("partition"), parts.get("account_id")
        names = iam_actions.scope_names(dict(dict(partition=partition, account=account, region=module.region or "*"),
                                             **p["scope"]))
        for action, action_arns in iam_actions.action_resources(names, actions).items():
            action_resources.setdefault(action, action_arns)

    try:
        evaluations = []
        # One call for all actions on all their resources while the answers fit a page; each action judged on its own.
        for batch_actions, batch_resources in iam_actions.simulation_batches(actions, p["resources"], action_resources):
            evaluations.extend(simulate(iam, principal, batch_actions, batch_resources, names))
    except is_boto3_error_code("NoSuchEntity") as e:
        module.fail_json_aws(e, msg="iam:SimulatePrincipalPolicy: principal %s does not exist" % principal, **result)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="iam:SimulatePrincipalPolicy failed for %s (%d actions); the preflight could not check "
                                    "any permission - grant iam:SimulatePrincipalPolicy on the principal, or skip the preflight "
                                    "where the endpoint does not implement IAM policy simulation" % (principal, len(actions)),
                             **result)
    except ResponseParserError as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        module.fail_json(msg="iam:SimulatePrincipalPolicy failed for %s: the endpoint answered with an error that is not an AWS "
                             "API response (%s) - it may not implement IAM policy simulation; the preflight could not check "
                             "any permission" % (principal, first_line), **result)

    allowed, denied = iam_actions.simulation_report(
        evaluations, actions, iam_actions.wanted_resources(actions, p["resources"], action_resources))
    result.update(allowed=allowed, denied=denied)
    if denied:
        module.fail_json(msg="%s is not allowed %d of %d action(s) the run needs: %s"
                             % (principal, len(set(d["action"] for d in denied)), len(actions), iam_actions.describe_denied(denied)),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
