# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloning ECS task definitions: strip, change, normalise, compare, diff, validate.

Pure functions, no AWS: the ecs_taskdef_clone module fetches and registers, these decide.
Definitions are handled in the camelCase shape ECS's API uses (describe_task_definition's
`taskDefinition`, register_task_definition's input), so nothing is lost on the way through.
"""

import copy
import json
import re

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils import ecr_image

# What describe_task_definition returns that register_task_definition does not take.
READ_ONLY_FIELDS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
    "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
)
# register_task_definition's input (botocore 1.4x). The module passes the live list from botocore's
# service model, so fields added by a newer botocore are kept too.
REGISTER_FIELDS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
    "placementConstraints", "requiresCompatibilities", "cpu", "memory", "tags", "pidMode", "ipcMode",
    "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform",
    "enableFaultInjection", "trustedExecutionConfiguration",
)
# Set through their own options, not through `overrides`.
NOT_OVERRIDABLE = {"containerDefinitions": "containers", "tags": "tags", "cpu": "cpu", "memory": "memory"}

# Fargate task cpu (units) -> allowed task memory (MiB).
FARGATE_CPU_MEMORY = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
FARGATE_LOG_DRIVERS = ("awslogs", "splunk", "awsfirelens")

DIGEST_RE = ecr_image.DIGEST_RE
# POSIX names, plus the dots and dashes JVM-style settings use (spring.profiles.active); no =, blanks or leading digit.
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
ENV_NAME_RULE = "letters, digits, _, . and -, not starting with a digit"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
SECRETSMANAGER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+(:.*)?$")
SSM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[\w/.-]+$")
SSM_NAME_RE = re.compile(r"^/?[\w.-]+(/[\w.-]+)*$")
ECR_IMAGE_RE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
# An image reference as the OCI distribution grammar has it: [host[:port]/]path[:tag][@sha256:digest], path components
# lowercase alphanumerics joined by . _ __ or dashes - so no shell metacharacters, blanks, `..` or empty components.
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_REF_RE = re.compile(r"^(?:%s/)?%s(?:/%s)*$" % (_DOMAIN, _COMPONENT, _COMPONENT))
IMAGE_REF_RE = re.compile(r"^(?:%s/)?%s(?:/%s)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@%s)?$"
                          % (_DOMAIN, _COMPONENT, _COMPONENT, ecr_image.DIGEST))
IMAGE_RULE = "[registry[:port]/]repository[:tag][@sha256:<64 hex>], lowercase path components, no blanks, .. or shell characters"

# Environment variable names that look like they hold a secret (searched, case-insensitive). Their values are masked in
# every output of ecs_taskdef_clone, with a warning to move them to `secrets`.
DEFAULT_SECRET_ENV_PATTERNS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE", "AUTH",
                               "CERT", "DSN", "SESSION", "SIGNATURE", "SALT")
MASK = "********"


# ---------------------------------------------------------------- strip

def to_register_input(task_definition, tags=None, allowed_fields=None):
    """describe_task_definition's `taskDefinition` (+ its `tags`) -> a register_task_definition input.

    Drops the read-only fields and, given `allowed_fields` (the operation's input members), anything
    else the API would refuse. Never mutates its argument.
    """
    allowed = set(allowed_fields or REGISTER_FIELDS)
    result = {}
    for key, value in (task_definition or {}).items():
        if key in READ_ONLY_FIELDS or key not in allowed or value is None:
            continue
        result[key] = copy.deepcopy(value)
    if tags:
        result["tags"] = copy.deepcopy(list(tags))
    else:
        result.pop("tags", None)
    return result


# ---------------------------------------------------------------- units and images

def parse_cpu(value):
    """Task cpu as ECS takes it ("256", 256, "1 vCPU", "0.25 vcpu") -> CPU units (int), None if unreadable."""
    return _parse_units(value, r"v?cpus?", 1024)


def parse_memory(value):
    """Task memory ("512", 512, "2 GB", "0.5GB") -> MiB (int), None if unreadable."""
    return _parse_units(value, r"gb|gib", 1024)


def _parse_units(value, big_unit, factor):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    match = re.match(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%s)?\s*$" % big_unit, str(value), re.IGNORECASE)
    if not match:
        return None
    number = float(match.group(1))
    amount = number * factor if match.group(2) else number
    if amount <= 0 or amount != int(amount):
        return None
    return int(amount)


def image_repository(image):
    """`registry:5000/repo:tag` or `repo@sha256:…` -> `registry:5000/repo` (tag and digest removed)."""
    image = (image or "").split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def image_with_digest(repository, digest):
    return "%s@%s" % (image_repository(repository), digest)


# ---------------------------------------------------------------- changes

def _str_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def validate_changes(containers=None, cpu=None, memory=None, overrides=None, allowed_fields=None):
    """Errors in the requested changes themselves, before any definition is looked at."""
    errors = []
    seen = set()
    for index, change in enumerate(containers or []):
        where = "containers[%d]" % index
        name = change.get("name")
        if not name:
            errors.append("%s: name is required (the container to change)" % where)
        else:
            where = "containers[%d] (%s)" % (index, name)
            if name in seen:
                errors.append("%s: container %r is listed twice; give each container one entry" % (where, name))
            seen.add(name)
        if change.get("image") and (change.get("repository") or change.get("digest")):
            errors.append("%s: give either image, or repository and/or digest, not both" % where)
        if change.get("image") is not None and not IMAGE_REF_RE.match(str(change["image"])):
            errors.append("%s: image %r is not an image reference (%s)" % (where, change["image"], IMAGE_RULE))
        if change.get("repository") and not REPOSITORY_REF_RE.match(str(change["repository"])):
            errors.append("%s: repository %r is not a repository reference (%s)" % (where, change["repository"], IMAGE_RULE))
        if change.get("repository") and not change.get("digest"):
            errors.append("%s: repository %r needs a digest (sha256:<64 hex>); for a tag, give the full image" % (where, change["repository"]))
        digest = change.get("digest")
        if digest is not None and not DIGEST_RE.match(digest):
            errors.append("%s: digest %r is not of the form sha256:<64 lowercase hex digits>" % (where, digest))
        env = change.get("environment") or {}
        for env_name in env:
            if not ENV_NAME_RE.match(env_name):
                errors.append("%s: environment variable name %r is invalid (%s)" % (where, env_name, ENV_NAME_RULE))
        for env_name in set(env) & set(change.get("remove_environment") or []):
            errors.append("%s: environment variable %r is both set and removed" % (where, env_name))
        secrets = change.get("secrets") or {}
        for secret_name, value_from in secrets.items():
            if not ENV_NAME_RE.match(secret_name):
                errors.append("%s: secret name %r is invalid (%s)" % (where, secret_name, ENV_NAME_RULE))
            if not is_secret_reference(value_from):
                errors.append("%s: secret %s valueFrom %s is neither a Secrets Manager ARN nor an SSM parameter name or ARN"
                              % (where, secret_name, shown_reference(value_from)))
        for secret_name in set(secrets) & set(change.get("remove_secrets") or []):
            errors.append("%s: secret %r is both set and removed" % (where, secret_name))
        for secret_name in set(secrets) & set(env):
            errors.append("%s: %r is set both as an environment variable and as a secret" % (where, secret_name))
    if cpu is not None and parse_cpu(cpu) is None:
        errors.append("cpu %r is not a CPU amount (units such as 256, 1024, or '1 vCPU')" % (cpu,))
    if memory is not None and parse_memory(memory) is None:
        errors.append("memory %r is not a memory amount (MiB such as 512, 2048, or '2 GB')" % (memory,))
    allowed = set(allowed_fields or REGISTER_FIELDS)
    for key in sorted(overrides or {}):
        if key in NOT_OVERRIDABLE:
            errors.append("overrides.%s: set it with the %s option instead" % (key, NOT_OVERRIDABLE[key]))
        elif key in READ_ONLY_FIELDS:
            errors.append("overrides.%s: read-only field, ECS assigns it" % key)
        elif key not in allowed:
            errors.append("overrides.%s: not a task definition field; allowed: %s"
                          % (key, ", ".join(sorted(allowed - set(NOT_OVERRIDABLE)))))
    return errors


def apply_changes(register_input, containers=None, cpu=None, memory=None, overrides=None, extra_tags=None):
    """Apply the requested changes to a register input. Returns (new input, errors); never mutates.

    Errors here are changes that cannot apply to this definition (unknown container names).
    """
    result = copy.deepcopy(register_input)
    errors = []
    by_name = dict((c.get("name"), c) for c in result.get("containerDefinitions") or [])
    for change in containers or []:
        name = change.get("name")
        container = by_name.get(name)
        if container is None:
            errors.append("containers: no container named %r in task definition %s; it has: %s"
                          % (name, result.get("family"), ", ".join(sorted(n for n in by_name if n)) or "none"))
            continue
        if change.get("image"):
            container["image"] = change["image"]
        elif change.get("digest"):
            container["image"] = image_with_digest(change.get("repository") or container.get("image"), change["digest"])
        _merge_named(container, "environment", "value", change.get("environment"), change.get("remove_environment"), _str_value)
        _merge_named(container, "secrets", "valueFrom", change.get("secrets"), change.get("remove_secrets"), str)
    for key, value in (overrides or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    if cpu is not None:
        result["cpu"] = str(parse_cpu(cpu) or cpu)
    if memory is not None:
        result["memory"] = str(parse_memory(memory) or memory)
    if extra_tags:
        tags = dict((t["key"], t.get("value", "")) for t in result.get("tags") or [])
        tags.update((str(k), _str_value(v)) for k, v in extra_tags.items())
        result["tags"] = [{"key": k, "value": v} for k, v in sorted(tags.items())]
    return result, errors


def _merge_named(container, field, value_key, to_set, to_remove, convert):
    """Set / remove entries of a [{name, <value_key>}] list, keeping the order of the ones kept."""
    if not to_set and not to_remove:
        return
    remove = set(to_remove or [])
    to_set = dict((k, convert(v)) for k, v in (to_set or {}).items())
    entries = []
    for entry in container.get(field) or []:
        name = entry.get("name")
        if name in remove:
            continue
        if name in to_set:
            entry = dict(entry, **{value_key: to_set.pop(name)})
        entries.append(entry)
    entries.extend({"name": k, value_key: v} for k, v in sorted(to_set.items()))
    container[field] = entries


# ---------------------------------------------------------------- compare and diff

def _drop_empty(value):
    """Recursively drop None, [] and {} members: ECS treats them as absent and fills some in itself."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _drop_empty(v)
            if v is None or v == [] or v == {}:
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def _normal_port(mapping, network_mode):
    mapping = dict(mapping)
    mapping.setdefault("protocol", "tcp")
    if network_mode in ("awsvpc", "host") and "hostPort" not in mapping and "containerPort" in mapping:
        mapping["hostPort"] = mapping["containerPort"]
    return mapping


def _normal_container(container, network_mode):
    c = copy.deepcopy(container)
    c.setdefault("essential", True)
    if c.get("cpu") == 0:
        del c["cpu"]
    if c.get("environment") is not None:
        c["environment"] = dict((e.get("name"), e.get("value")) for e in c["environment"])
    if c.get("secrets") is not None:
        c["secrets"] = dict((s.get("name"), s.get("valueFrom")) for s in c["secrets"])
    if c.get("portMappings") is not None:
        ports = [_normal_port(p, network_mode) for p in c["portMappings"]]
        c["portMappings"] = sorted(ports, key=lambda p: json.dumps(p, sort_keys=True))
    return c


def comparable(register_input):
    """A canonical view of a register input: equal views register equal task definitions.

    Containers keyed by name, environment / secrets / tags as dicts, ECS's defaults filled in
    (essential true, protocol tcp, hostPort = containerPort in awsvpc, networkMode bridge),
    empty members dropped, cpu / memory as unit strings.
    """
    if register_input is None:
        return {}
    td = to_register_input(register_input, tags=register_input.get("tags"), allowed_fields=list(register_input))
    network_mode = td.get("networkMode") or "bridge"
    td["networkMode"] = network_mode
    for key, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        if td.get(key) is not None:
            td[key] = str(parse(td[key]) or td[key])
    if td.get("requiresCompatibilities"):
        td["requiresCompatibilities"] = sorted(td["requiresCompatibilities"])
    if td.get("tags") is not None:
        td["tags"] = dict((t.get("key"), t.get("value")) for t in td["tags"])
    if td.get("volumes") is not None:
        td["volumes"] = sorted(td["volumes"], key=lambda v: v.get("name") or "")
    td["containerDefinitions"] = dict((c.get("name"), _normal_container(c, network_mode))
                                      for c in td.get("containerDefinitions") or [])
    return _drop_empty(td)


def differs(current, desired):
    """True when registering `desired` would give something other than `current` (None: no revision)."""
    if current is None:
        return True
    return comparable(current) != comparable(desired)


def _show(value):
    return json.dumps(value, sort_keys=True, default=str)


def diff_lines(before, after, path=""):
    """Human-readable differences between two comparable() views, one line per changed leaf."""
    lines = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            sub = "%s.%s" % (path, key) if path else str(key)
            if key not in before:
                lines.append("%s: added %s" % (sub, _show(after[key])))
            elif key not in after:
                lines.append("%s: removed (was %s)" % (sub, _show(before[key])))
            else:
                lines.extend(diff_lines(before[key], after[key], sub))
    elif before != after:
        lines.append("%s: %s -> %s" % (path or "(definition)", _show(before), _show(after)))
    return lines


def describe_changes(current, desired):
    """diff_lines of two register inputs (current None: everything is new)."""
    if current is None:
        return ["new task definition family %s" % desired.get("family")]
    return diff_lines(comparable(current), comparable(desired))


# ---------------------------------------------------------------- validate

def is_secret_reference(value_from):
    value_from = str(value_from or "")
    if value_from.startswith("arn:"):
        return bool(SECRETSMANAGER_ARN_RE.match(value_from) or SSM_ARN_RE.match(value_from))
    return bool(SSM_NAME_RE.match(value_from))


def secret_reference(value_from):
    """valueFrom -> ("secretsmanager", secret id without JSON key / stage suffix) or ("ssm", [names to try]).

    A Secrets Manager valueFrom may carry `:json-key:version-stage:version-id` after the secret's ARN,
    whose own form is arn:partition:secretsmanager:region:account:secret:name (7 fields).
    An SSM ARN's resource `parameter/a/b` is the parameter `/a/b`; `parameter/a` is `a` (or `/a`).
    """
    value_from = str(value_from)
    if SECRETSMANAGER_ARN_RE.match(value_from):
        parts = arns.parse(value_from)
        return "secretsmanager", "arn:%s:secretsmanager:%s:%s:secret:%s" % (
            parts["partition"], parts["region"], parts["account_id"], parts["resource_id"].split(":", 1)[0])
    if SSM_ARN_RE.match(value_from):
        resource = arns.resource(value_from)[len("parameter/"):]
        if "/" in resource:
            return "ssm", ["/" + resource]
        return "ssm", [resource, "/" + resource]
    return "ssm", [value_from]


def role_name(role_arn):
    """arn:aws:iam::123456789012:role/path/name -> name (what iam get_role takes)."""
    return arns.last_segment(str(role_arn))


def _int_or_none(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _validate_ports(td, network_mode, errors):
    task_ports = {}
    host_ports = {}
    for container in td.get("containerDefinitions") or []:
        cname = container.get("name")
        container_ports = set()
        for mapping in container.get("portMappings") or []:
            protocol = mapping.get("protocol") or "tcp"
            if protocol not in ("tcp", "udp"):
                errors.append("container %s: port protocol %r must be tcp or udp" % (cname, protocol))
            if mapping.get("containerPortRange"):
                continue
            port = _int_or_none(mapping.get("containerPort"))
            if port is None or not 1 <= port <= 65535:
                errors.append("container %s: containerPort %r is out of range 1-65535" % (cname, mapping.get("containerPort")))
                continue
            host = mapping.get("hostPort")
            if host is not None:
                host = _int_or_none(host)
                if host is None or not 0 <= host <= 65535:
                    errors.append("container %s: hostPort %r is out of range 0-65535" % (cname, mapping.get("hostPort")))
                elif network_mode in ("awsvpc", "host") and host != port:
                    errors.append("container %s: hostPort %s must equal containerPort %s in %s network mode"
                                  % (cname, host, port, network_mode))
            key = (port, protocol)
            if key in container_ports:
                errors.append("container %s: containerPort %s/%s is mapped twice" % (cname, port, protocol))
            container_ports.add(key)
            if network_mode in ("awsvpc", "host"):
                if key in task_ports and task_ports[key] != cname:
                    errors.append("containers %s and %s both use port %s/%s; in %s mode they share one network namespace"
                                  % (task_ports[key], cname, port, protocol, network_mode))
                task_ports.setdefault(key, cname)
            elif host:
                hkey = (host, protocol)
                if hkey in host_ports and host_ports[hkey] != cname:
                    errors.append("containers %s and %s both use hostPort %s/%s" % (host_ports[hkey], cname, host, protocol))
                host_ports.setdefault(hkey, cname)


def _validate_memory_cpu(td, fargate, errors):
    task_cpu = task_memory = None
    if td.get("cpu") is not None:
        task_cpu = parse_cpu(td["cpu"])
        if task_cpu is None:
            errors.append("cpu %r is not a CPU amount (units such as 256, 1024, or '1 vCPU')" % (td["cpu"],))
    if td.get("memory") is not None:
        task_memory = parse_memory(td["memory"])
        if task_memory is None:
            errors.append("memory %r is not a memory amount (MiB such as 512, 2048, or '2 GB')" % (td["memory"],))
    if fargate:
        if task_cpu is None or task_memory is None:
            errors.append("Fargate needs task-level cpu and memory (e.g. cpu 256, memory 512)")
        elif task_cpu not in FARGATE_CPU_MEMORY:
            errors.append("Fargate cpu %s is not allowed; allowed: %s" % (task_cpu, ", ".join(str(c) for c in sorted(FARGATE_CPU_MEMORY))))
        elif task_memory not in FARGATE_CPU_MEMORY[task_cpu]:
            allowed = FARGATE_CPU_MEMORY[task_cpu]
            errors.append("Fargate cpu %s does not allow memory %s; allowed with cpu %s: %s"
                          % (task_cpu, task_memory, task_cpu, _ranges(allowed)))
    reserved = 0
    cpu_sum = 0
    for container in td.get("containerDefinitions") or []:
        cname = container.get("name")
        hard = _int_or_none(container.get("memory"))
        soft = _int_or_none(container.get("memoryReservation"))
        if hard is not None and soft is not None and soft > hard:
            errors.append("container %s: memoryReservation %s exceeds its memory %s" % (cname, soft, hard))
        if task_memory is not None and hard is not None and hard > task_memory:
            errors.append("container %s: memory %s exceeds the task memory %s" % (cname, hard, task_memory))
        if task_memory is None and hard is None and soft is None and not fargate:
            errors.append("container %s: needs memory or memoryReservation when the task has no memory" % cname)
        reserved += soft if soft is not None else (hard or 0)
        cpu_sum += _int_or_none(container.get("cpu")) or 0
    if task_memory is not None and reserved > task_memory:
        errors.append("containers reserve %s MiB in total, more than the task memory %s" % (reserved, task_memory))
    if task_cpu is not None and cpu_sum > task_cpu:
        errors.append("containers' cpu adds up to %s, more than the task cpu %s" % (cpu_sum, task_cpu))


def _ranges(values):
    values = list(values)
    if len(values) > 3:
        return "%s-%s in steps of %s" % (values[0], values[-1], values[1] - values[0])
    return ", ".join(str(v) for v in values)


def validate_task_definition(td):
    """Every problem of a register input that ECS would refuse or that would fail at task start."""
    errors = []
    if not NAME_RE.match(str(td.get("family") or "")):
        errors.append("family %r is invalid (1-255 letters, digits, - and _)" % (td.get("family"),))
    containers = td.get("containerDefinitions") or []
    if not containers:
        errors.append("the task definition has no containerDefinitions")
    network_mode = td.get("networkMode") or "bridge"
    fargate = "FARGATE" in (td.get("requiresCompatibilities") or [])
    if fargate and network_mode != "awsvpc":
        errors.append("Fargate needs networkMode awsvpc, not %s" % network_mode)
    for key in ("taskRoleArn", "executionRoleArn"):
        if td.get(key) and not ROLE_ARN_RE.match(td[key]):
            errors.append("%s %r is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)" % (key, td[key]))
    has_execution_role = bool(td.get("executionRoleArn"))
    names = set()
    if containers and not any(c.get("essential", True) for c in containers):
        errors.append("no container is essential; at least one must be")
    for container in containers:
        cname = container.get("name")
        if not NAME_RE.match(str(cname or "")):
            errors.append("container name %r is invalid (1-255 letters, digits, - and _)" % (cname,))
        if cname in names:
            errors.append("container name %r is used twice" % (cname,))
        names.add(cname)
        image = container.get("image") or ""
        if image.strip() and "@" in image and not re.search(r"\s", image) and not DIGEST_RE.match(image.split("@", 1)[1]):
            errors.append("container %s: image digest %r is not of the form sha256:<64 lowercase hex digits>"
                          % (cname, image.split("@", 1)[1]))
        elif not IMAGE_REF_RE.match(image):
            errors.append("container %s: image %r is not an image reference (%s)" % (cname, image, IMAGE_RULE))
        if fargate and ECR_IMAGE_RE.match(image) and not has_execution_role:
            errors.append("container %s: pulling from ECR on Fargate needs an executionRoleArn" % cname)
        env_names = set()
        for entry in container.get("environment") or []:
            name = entry.get("name")
            if not ENV_NAME_RE.match(str(name or "")):
                errors.append("container %s: environment variable name %r is invalid (%s)"
                              % (cname, name, ENV_NAME_RULE))
            if name in env_names:
                errors.append("container %s: environment variable %r is set twice" % (cname, name))
            env_names.add(name)
        secret_names = set()
        for entry in container.get("secrets") or []:
            name = entry.get("name")
            if not ENV_NAME_RE.match(str(name or "")):
                errors.append("container %s: secret name %r is invalid (%s)" % (cname, name, ENV_NAME_RULE))
            if name in secret_names:
                errors.append("container %s: secret %r is set twice" % (cname, name))
            if name in env_names:
                errors.append("container %s: %r is both an environment variable and a secret" % (cname, name))
            secret_names.add(name)
            if not is_secret_reference(entry.get("valueFrom")):
                errors.append("container %s: secret %s valueFrom %s is neither a Secrets Manager ARN nor an SSM parameter name or ARN"
                              % (cname, name, shown_reference(entry.get("valueFrom"))))
        if secret_names and not has_execution_role:
            errors.append("container %s: secrets (%s) need an executionRoleArn to be read at task start"
                          % (cname, ", ".join(sorted(str(n) for n in secret_names))))
        if container.get("repositoryCredentials") and not has_execution_role:
            errors.append("container %s: repositoryCredentials need an executionRoleArn" % cname)
        log = container.get("logConfiguration") or {}
        driver = log.get("logDriver")
        if fargate and driver and driver not in FARGATE_LOG_DRIVERS:
            errors.append("container %s: log driver %s is not supported on Fargate; allowed: %s"
                          % (cname, driver, ", ".join(FARGATE_LOG_DRIVERS)))
        if driver == "awslogs":
            options = log.get("options") or {}
            required = ["awslogs-group", "awslogs-region"] + (["awslogs-stream-prefix"] if fargate else [])
            missing = [o for o in required if not options.get(o)]
            if missing:
                errors.append("container %s: awslogs needs the log options %s%s" % (
                    cname, ", ".join(missing), " (required on Fargate)" if fargate and "awslogs-stream-prefix" in missing else ""))
            if fargate and not has_execution_role:
                errors.append("container %s: awslogs on Fargate needs an executionRoleArn to write logs" % cname)
    _validate_memory_cpu(td, fargate, errors)
    _validate_ports(td, network_mode, errors)
    return errors


def secret_references(td):
    """[(container name, secret name, valueFrom)] of every secret of a register input."""
    return [(c.get("name"), s.get("name"), s.get("valueFrom"))
            for c in td.get("containerDefinitions") or [] for s in c.get("secrets") or []]


# ---------------------------------------------------------------- secrets in output

def shown_reference(value_from):
    """valueFrom as an error message may show it: ARNs and /paths as they are; anything else may be a value pasted by
    mistake (a password instead of its parameter's name), so it is not shown."""
    value_from = str(value_from or "")
    if value_from.startswith("arn:") or value_from.startswith("/"):
        return value_from
    return "(not shown: not an ARN or a /path - a secret's value given by mistake?)"


def unsafe_references(td_or_changes):
    """valueFrom strings that might be values pasted by mistake (see shown_reference), of a register input's
    containers or of a module's `containers` option."""
    found = []
    for c in td_or_changes or []:
        refs = c.get("secrets") or []
        values = refs.values() if isinstance(refs, dict) else [s.get("valueFrom") for s in refs]
        found += [str(v) for v in values if v and shown_reference(v) != str(v)]
    return found


def looks_secret(name, patterns=DEFAULT_SECRET_ENV_PATTERNS):
    name = str(name or "").upper()
    return any(re.search(str(p), name, re.IGNORECASE) for p in patterns or ())


def secret_environment(register_input, patterns=DEFAULT_SECRET_ENV_PATTERNS):
    """[(container, name, value)] of the environment entries whose name looks like a secret."""
    return [(c.get("name"), e.get("name"), e.get("value"))
            for c in (register_input or {}).get("containerDefinitions") or []
            for e in c.get("environment") or [] if looks_secret(e.get("name"), patterns)]


def mask_environment(register_input, patterns=DEFAULT_SECRET_ENV_PATTERNS, reference=None):
    """A copy of a register input (or describe output) with secret-looking environment values replaced by MASK;
    given `reference` (the definition it is compared with), a value that differs from it shows as `MASK (changed)`."""
    if register_input is None:
        return None
    before = dict(((c, n), v) for c, n, v in secret_environment(reference, patterns)) if reference else {}
    masked = copy.deepcopy(register_input)
    for c in masked.get("containerDefinitions") or []:
        for e in c.get("environment") or []:
            if looks_secret(e.get("name"), patterns):
                key = (c.get("name"), e.get("name"))
                changed = reference is not None and before.get(key) != e.get("value")
                e["value"] = MASK + (" (changed)" if changed else "")
    return masked
