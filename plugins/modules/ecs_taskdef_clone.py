#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_taskdef_clone
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Clone an ECS task definition with a new image, environment or secrets
description:
  - Reads a task definition exactly as ECS returns it (with its tags), applies the requested changes, keeps every
    other field (roles, limits, ports, log configuration, volumes, tags, ...), and registers the result as a new
    revision only when it differs from the family's latest C(ACTIVE) revision.
  - The source is a task definition (O(source)), or what an ECS service runs now (O(cluster) + O(service)).
  - The result is validated before anything is registered; every problem is reported at once, naming the
    container and field. Checked are Fargate cpu/memory pairs, container memory and cpu within the task's,
    duplicate or out-of-range ports, awslogs options, environment variable names, image digests, an execution
    role where secrets, awslogs on Fargate or ECR pulls on Fargate need one, and (O(validate_secrets)) that every
    secret's C(valueFrom) exists and (O(validate_roles)) that the task and execution roles exist.
  - Secret values are never read. Secrets Manager secrets are checked with C(DescribeSecret), SSM parameters with
    C(DescribeParameters).
  - Exists because M(community.aws.ecs_taskdefinition) has no clone mode and passes only a subset of the fields,
    and M(community.aws.ecs_taskdefinition_info) returns a snake_cased copy that loses information.
options:
  source:
    description:
      - The task definition to clone, as a family (its latest C(ACTIVE) revision), C(family:revision) or a full ARN.
      - Mutually exclusive with O(cluster) and O(service).
    type: str
  cluster:
    description: Name or ARN of the cluster of O(service).
    type: str
  service:
    description: Name or ARN of an ECS service; its current task definition is the source.
    type: str
  containers:
    description: Changes per container. Containers not listed are kept as they are.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of a container of the source task definition.
        type: str
        required: true
      image:
        description: The full new image reference (C(repo:tag) or C(repo@sha256:...)). Mutually exclusive with O(containers[].digest).
        type: str
      repository:
        description:
          - Repository of the new image, used with O(containers[].digest). Any tag or digest on it is dropped.
          - Defaults to the repository of the container's current image.
        type: str
      digest:
        description: Image digest C(sha256:<64 hex>); the image becomes C(<repository>@<digest>).
        type: str
      environment:
        description: Environment variables to set (name to value); others are kept.
        type: dict
        default: {}
      remove_environment:
        description: Names of environment variables to remove.
        type: list
        elements: str
        default: []
      secrets:
        description:
          - Secrets to set, name to C(valueFrom) (a Secrets Manager ARN, optionally with a C(:json-key:stage:version)
            suffix, or an SSM parameter name or ARN). Only the reference goes into the task definition.
        type: dict
        default: {}
      remove_secrets:
        description: Names of secrets to remove.
        type: list
        elements: str
        default: []
  cpu:
    description: Task cpu, in units (C(256), C(1024)) or as C(1 vCPU).
    type: raw
  memory:
    description: Task memory, in MiB (C(512), C(2048)) or as C(2 GB).
    type: raw
  overrides:
    description:
      - Other top-level fields to set, by their API name (for example C(taskRoleArn), C(executionRoleArn),
        C(ephemeralStorage), C(runtimePlatform), C(family) to register into another family). A value of C(null)
        removes the field.
      - C(containerDefinitions), C(tags), C(cpu) and C(memory) have their own options; read-only fields are refused.
    type: dict
    default: {}
  tags:
    description: Tags to add to (or change on) the new revision.
    type: dict
  copy_tags:
    description: Copy the source revision's tags.
    type: bool
    default: true
  validate_secrets:
    description: Check that every secret's C(valueFrom) exists before registering.
    type: bool
    default: true
  validate_roles:
    description: Check with IAM C(GetRole) that the task and execution roles exist.
    type: bool
    default: false
  secret_env_patterns:
    description:
      - Environment variable names that look like secrets (regular expressions, searched case-insensitively).
      - Their values are masked (C(********)) in everything the module returns - C(task_definition), C(changes), the
        diff - and a warning suggests moving them to O(containers[].secrets). They are still registered as given.
    type: list
    elements: str
    default: [PASSWORD, PASSWD, SECRET, TOKEN, KEY, CREDENTIAL, PRIVATE, AUTH, CERT, DSN, SESSION, SIGNATURE, SALT]
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
notes:
  - Equality with the latest revision ignores what ECS fills in itself (C(essential) true, protocol C(tcp),
    C(hostPort) equal to C(containerPort) in C(awsvpc) mode, empty lists, C(cpu) 0) and the order of environment
    variables, secrets, containers and port mappings; tags count.
attributes:
  check_mode:
    description: Returns the would-be task definition and the diff; registers nothing.
  diff_mode:
    support: full
    description: Shows the difference from the family's latest ACTIVE revision.
"""

EXAMPLES = r"""
- name: Deploy a new image by digest into the task definition the service runs now
  progressive.delivery.ecs_taskdef_clone:
    cluster: prod-ecs-cluster
    service: myapp-a
    containers:
      - name: app
        digest: "{{ image.digest }}"
        environment:
          VERSION: "{{ image_tag }}"
          DEPLOYMENT_TIME: "{{ now(utc=true).isoformat() }}"
        secrets:
          DB_PASSWORD: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password::"
    tags:
      deployed-by: ansible
  register: taskdef

- name: Use the new revision
  ansible.builtin.debug:
    msg: "{{ taskdef.family }}:{{ taskdef.revision }}"

- name: Bigger task, from a given revision, another repository
  progressive.delivery.ecs_taskdef_clone:
    source: myapp:42
    cpu: 1 vCPU
    memory: 2 GB
    containers:
      - name: app
        repository: 123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp
        digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        remove_environment: [DEBUG]
    overrides:
      ephemeralStorage:
        sizeInGiB: 40
    validate_roles: true
"""

RETURN = r"""
family:
  description: Family of the resulting task definition.
  returned: always
  type: str
  sample: myapp
revision:
  description: Revision registered, or the latest ACTIVE one when nothing changed. Absent in check mode when it would register.
  returned: when known
  type: int
  sample: 43
task_definition_arn:
  description: ARN of that revision. Absent in check mode when it would register.
  returned: when known
  type: str
  sample: arn:aws:ecs:us-east-1:123456789012:task-definition/myapp:43
task_definition:
  description:
    - The whole task definition in the API's own (camelCase) shape, as ECS returns it; in check mode, when it would
      register, the register_task_definition input.
    - Secrets appear as C(valueFrom) references only.
  returned: always
  type: dict
tags:
  description: Tags of the resulting revision.
  returned: always
  type: dict
  sample: {team: payments}
source_task_definition_arn:
  description: ARN of the revision that was cloned.
  returned: always
  type: str
changes:
  description: One line per changed field against the latest ACTIVE revision, empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ['containerDefinitions.app.image: "repo:1.0" -> "repo@sha256:..."']
diff:
  description: Normalised latest ACTIVE revision (before) and result (after), for C(--diff).
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import taskdef as tdlib

# list_task_definitions pages of 100; a family with more ACTIVE revisions than this is not sane.
MAX_LIST_PAGES = 50


class CloneError(Exception):
    pass


def arn_family(task_definition_arn):
    """arn:...:task-definition/family:revision -> family."""
    return arns.task_definition_family(task_definition_arn)


def describe(ecs, reference):
    """(taskDefinition, tags) of a family:revision or ARN; None when ECS does not know it."""
    try:
        response = ecs.describe_task_definition(aws_retry=True, taskDefinition=reference, include=["TAGS"])
    except is_boto3_error_code("ClientException"):
        return None
    return response["taskDefinition"], response.get("tags") or []


@jittered_backoff()
def latest_active_arn(ecs, family):
    """ARN of the family's highest ACTIVE revision, None if it has none.

    Not describe_task_definition(family): familyPrefix lists other families too, and moto's describe
    of a bare family returns the latest revision even when it is INACTIVE.
    """
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
    for number, page in enumerate(pages):
        if number == MAX_LIST_PAGES:
            raise CloneError("family %s: more than %d pages of ACTIVE task definitions; deregister old revisions"
                             % (family, MAX_LIST_PAGES))
        matching = [a for a in page.get("taskDefinitionArns", []) if arn_family(a) == family]
        if matching:
            return max(matching, key=lambda a: arns.task_definition_revision(a)[1])
    return None


def source_reference(module, ecs):
    p = module.params
    if p["service"]:
        try:
            response = ecs.describe_services(aws_retry=True, cluster=p["cluster"], services=[p["service"]])
        except is_boto3_error_code("ClusterNotFoundException"):
            raise CloneError("cluster %r not found (cluster)" % p["cluster"])
        services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            raise CloneError("service %r not found in cluster %r (service, cluster)" % (p["service"], p["cluster"]))
        return services[0]["taskDefinition"]
    source = p["source"]
    if source.startswith("arn:") or ":" in source:
        return source
    arn = latest_active_arn(ecs, source)
    if arn is None:
        raise CloneError("source %r: family has no ACTIVE revision" % source)
    return arn


def check_secrets(module, td):
    """Errors for every secret whose valueFrom does not exist (never reads a value)."""
    errors = []
    clients = {}

    def client(service, region):
        key = (service, region)
        if key not in clients:
            extra = {"region": region} if region else {}
            clients[key] = module.client(service, retry_decorator=jittered_backoff(), **extra)
        return clients[key]

    for container, name, value_from in tdlib.secret_references(td):
        kind, target = tdlib.secret_reference(value_from)
        region = (arns.parse(value_from) or {}).get("region") or None
        where = "container %s: secret %s valueFrom %s" % (container, name, tdlib.shown_reference(value_from))
        try:
            if kind == "secretsmanager":
                client("secretsmanager", region).describe_secret(aws_retry=True, SecretId=target)
                continue
            ssm = client("ssm", region)
            found = False
            for parameter in target:
                response = ssm.describe_parameters(aws_retry=True, ParameterFilters=[
                    {"Key": "Name", "Option": "Equals", "Values": [parameter]}])
                if response.get("Parameters"):
                    found = True
                    break
            if not found:
                errors.append("%s: SSM parameter %s not found" % (where, " or ".join(target)))
        except is_boto3_error_code("ResourceNotFoundException"):
            errors.append("%s: Secrets Manager secret not found" % where)
        except is_boto3_error_code(["AccessDeniedException", "AccessDenied"]):
            errors.append("%s: not allowed to check it (AccessDenied); grant describe access or set validate_secrets=false" % where)
    return errors


def check_roles(module, td):
    errors = []
    iam = module.client("iam", retry_decorator=jittered_backoff())
    for key in ("taskRoleArn", "executionRoleArn"):
        if not td.get(key):
            continue
        try:
            iam.get_role(aws_retry=True, RoleName=tdlib.role_name(td[key]))
        except is_boto3_error_code("NoSuchEntity"):
            errors.append("%s %s: IAM role %s does not exist" % (key, td[key], tdlib.role_name(td[key])))
    return errors


def fail_invalid(module, errors, **kwargs):
    module.fail_json(msg="%d problem(s), nothing registered: %s" % (len(errors), "; ".join(errors)), errors=errors, **kwargs)


def run(module, ecs, allowed_fields):
    p = module.params
    reference = source_reference(module, ecs)
    found = describe(ecs, reference)
    if found is None:
        raise CloneError("task definition %r not found (%s)" % (reference, "service" if p["service"] else "source"))
    source_td, source_tags = found

    base = tdlib.to_register_input(source_td, tags=source_tags if p["copy_tags"] else None, allowed_fields=allowed_fields)
    desired, errors = tdlib.apply_changes(base, containers=p["containers"], cpu=p["cpu"], memory=p["memory"],
                                          overrides=p["overrides"], extra_tags=p["tags"])
    errors += tdlib.validate_task_definition(desired)
    if errors:
        fail_invalid(module, errors, source_task_definition_arn=source_td["taskDefinitionArn"])
    if p["validate_secrets"]:
        errors += check_secrets(module, desired)
    if p["validate_roles"]:
        errors += check_roles(module, desired)
    if errors:
        fail_invalid(module, errors, source_task_definition_arn=source_td["taskDefinitionArn"])

    family = desired["family"]
    latest_arn = latest_active_arn(ecs, family)
    # The source is often the family's newest revision (the live one): read once, not twice.
    if latest_arn and latest_arn == source_td["taskDefinitionArn"]:
        latest = found
    else:
        latest = describe(ecs, latest_arn) if latest_arn else None
    current = tdlib.to_register_input(latest[0], tags=latest[1], allowed_fields=allowed_fields) if latest else None

    # Secret-looking environment values: masked in everything returned (results, diff, changes), by structure and,
    # through Ansible's no_log values, anywhere else they would appear (long enough not to mangle other text).
    patterns = p["secret_env_patterns"]
    hidden = tdlib.secret_environment(source_td, patterns) + tdlib.secret_environment(desired, patterns)
    hidden += tdlib.secret_environment(current, patterns)
    module.no_log_values.update(str(v) for _c, _n, v in hidden if v is not None and len(str(v)) >= 6)
    for cname, ename in sorted(set((c, n) for c, n, _v in tdlib.secret_environment(desired, patterns))):
        module.warn("container %s: environment variable %s looks like a secret (secret_env_patterns): its value is masked "
                    "in output, but it is stored in the task definition in plain text; move it to secrets "
                    "(a Secrets Manager or SSM valueFrom)" % (cname, ename))
    shown_current = tdlib.mask_environment(current, patterns)
    shown_desired = tdlib.mask_environment(desired, patterns, reference=current)

    result = dict(family=family, source_task_definition_arn=source_td["taskDefinitionArn"],
                  changes=tdlib.describe_changes(shown_current, shown_desired),
                  diff=dict(before=tdlib.comparable(shown_current), after=tdlib.comparable(shown_desired),
                            before_header=latest_arn or "(no ACTIVE revision of %s)" % family,
                            after_header="%s (new revision)" % family))
    if not tdlib.differs(current, desired):
        result["changes"] = []
        result["diff"]["after"] = result["diff"]["before"]
        module.exit_json(changed=False, revision=latest[0]["revision"], task_definition_arn=latest_arn,
                         task_definition=tdlib.mask_environment(latest[0], patterns),
                         tags=boto3_tag_list_to_ansible_dict(latest[1]), **result)
    if module.check_mode:
        module.exit_json(changed=True, task_definition=shown_desired,
                         tags=boto3_tag_list_to_ansible_dict(desired.get("tags", [])), **result)
    registered = ecs.register_task_definition(aws_retry=True, **desired)
    new_td = registered["taskDefinition"]
    tags = registered.get("tags") or desired.get("tags") or []
    module.exit_json(changed=True, revision=new_td["revision"], task_definition_arn=new_td["taskDefinitionArn"],
                     task_definition=tdlib.mask_environment(new_td, patterns), tags=boto3_tag_list_to_ansible_dict(tags), **result)


def main():
    container_options = dict(
        name=dict(type="str", required=True),
        image=dict(type="str"),
        repository=dict(type="str"),
        digest=dict(type="str"),
        environment=dict(type="dict", default={}),
        remove_environment=dict(type="list", elements="str", default=[]),
        # References (ARNs, parameter names), never values: safe to log.
        secrets=dict(type="dict", default={}, no_log=False),
        remove_secrets=dict(type="list", elements="str", default=[], no_log=False),
    )
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            source=dict(type="str"),
            cluster=dict(type="str"),
            service=dict(type="str"),
            containers=dict(type="list", elements="dict", default=[], options=container_options),
            cpu=dict(type="raw"),
            memory=dict(type="raw"),
            overrides=dict(type="dict", default={}),
            tags=dict(type="dict"),
            copy_tags=dict(type="bool", default=True),
            validate_secrets=dict(type="bool", default=True),
            validate_roles=dict(type="bool", default=False),
            secret_env_patterns=dict(type="list", elements="str", default=list(tdlib.DEFAULT_SECRET_ENV_PATTERNS), no_log=False),
        ),
        mutually_exclusive=[("source", "cluster"), ("source", "service")],
        required_together=[("cluster", "service")],
        required_one_of=[("source", "service")],
        supports_check_mode=True,
    )
    p = module.params
    # Values given as environment under secret-looking names, or pasted into a valueFrom, never reach the output.
    module.no_log_values.update(str(v) for c in p["containers"] for n, v in (c.get("environment") or {}).items()
                                if v is not None and len(str(v)) >= 6 and tdlib.looks_secret(n, p["secret_env_patterns"]))
    module.no_log_values.update(v for v in tdlib.unsafe_references(p["containers"]) if len(v) >= 6)
    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    allowed_fields = list(ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members)
    errors = tdlib.validate_changes(containers=p["containers"], cpu=p["cpu"], memory=p["memory"],
                                    overrides=p["overrides"], allowed_fields=allowed_fields)
    if errors:
        fail_invalid(module, errors)
    what = "service %s in cluster %s" % (p["service"], p["cluster"]) if p["service"] else "task definition %s" % p["source"]
    try:
        run(module, ecs, allowed_fields)
    except CloneError as e:
        module.fail_json(msg=str(e))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to clone the %s" % what)


if __name__ == "__main__":
    main()
