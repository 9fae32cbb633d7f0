"""What an ECS task process gets: its image tag (digests resolved through ECR) and its environment
(task-definition environment + secrets resolved from Secrets Manager / SSM + the lab's LAB_* variables).

Parsing is pure (unit-tested); resolution reads moto's backends in-process. Secret values are returned
to the caller only (the task runner passes them as env to the child) and never logged.
"""
import json


class TaskStartError(Exception):
    """The task cannot start; str(e) is the stoppedReason in AWS's words."""

    def __init__(self, reason, stop_code="TaskFailedToStart"):
        super().__init__(reason)
        self.stop_code = stop_code


def parse_image(image):
    """'acct.dkr.ecr.r.amazonaws.com/repo:tag' | '...repo@sha256:..' -> (registry, repository, tag, digest)."""
    rest, digest = (image.split("@", 1) + [None])[:2]
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = "", rest
    repository, tag = path, None
    if ":" in path.rsplit("/", 1)[-1]:
        repository, tag = path.rsplit(":", 1)
    if tag is None and digest is None:
        tag = "latest"
    return registry, repository, tag, digest


def parse_secret_ref(value_from):
    """valueFrom -> ("secretsmanager", secret id, json key, version stage, version id) | ("ssm", name).

    Secrets Manager ARNs may carry `:json-key:version-stage:version-id` after the secret's own 7 fields."""
    parts = value_from.split(":")
    if value_from.startswith("arn:") and len(parts) >= 7 and parts[2] == "secretsmanager":
        secret_id = ":".join(parts[:7])
        extra = parts[7:] + ["", "", ""]
        return ("secretsmanager", secret_id, extra[0] or None, extra[1] or None, extra[2] or None)
    if value_from.startswith("arn:") and len(parts) >= 6 and parts[2] == "ssm":
        name = parts[5].split("parameter", 1)[1] if parts[5].startswith("parameter") else parts[5]
        return ("ssm", name if name.startswith("/") and name.count("/") > 1 else name.lstrip("/"))
    return ("ssm", value_from)


def resolve_image_tag(image, ecr_backend):
    """The tag the task runs. ECR images must exist (by tag or digest) or the task fails to start."""
    registry, repository, tag, digest = parse_image(image)
    if ".dkr.ecr." not in registry:
        return tag or (digest or "")[:19]
    repo = ecr_backend.repositories.get(repository)
    if repo is None:
        raise TaskStartError("CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                             "failed to resolve ref %s: not found (repository %s does not exist)" % (image, repository))
    for img in repo.images:
        tags = [t for t in (getattr(img, "image_tags", None) or [img.image_tag]) if t]
        if digest and img.image_digest == digest:
            return tags[0] if tags else digest
        if tag and tag in tags:
            return tag
    raise TaskStartError("CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                         "failed to resolve ref %s: not found" % image)


def resolve_secret(value_from, secrets_backend, ssm_backend):
    ref = parse_secret_ref(value_from)
    try:
        if ref[0] == "secretsmanager":
            _, secret_id, json_key, stage, version = ref
            value = secrets_backend.get_secret_value(secret_id, version, stage)["SecretString"]
            if json_key:
                value = json.loads(value)[json_key]
            return str(value)
        param = ssm_backend.get_parameter(ref[1])
        if param is None:
            raise KeyError(ref[1])
        return param.value
    except Exception as e:
        raise TaskStartError("ResourceInitializationError: unable to pull secrets or registry auth: "
                             "retrieve secret from %s: %s" % (value_from, type(e).__name__)) from None


def task_environment(container, task_def_cpu, task_def_memory, image_tag, secrets_backend, ssm_backend):
    """Environment of the container's process (without LAB_BIND / PORT / LAB_TASK_ARN / LAB_SERVICE)."""
    env = {e["name"]: str(e.get("value", "")) for e in container.get("environment") or [] if e.get("name")}
    for secret in container.get("secrets") or []:
        env[secret["name"]] = resolve_secret(secret["valueFrom"], secrets_backend, ssm_backend)
    env["LAB_IMAGE_TAG"] = image_tag
    env["ECS_CONTAINER_METADATA_CPU"] = str(task_def_cpu or "")
    env["ECS_CONTAINER_METADATA_MEMORY"] = str(task_def_memory or "")
    return env


def container_port(container, default=8080):
    for mapping in container.get("portMappings") or []:
        if mapping.get("containerPort"):
            return int(mapping["containerPort"])
    return default


def breaker_threshold(desired):
    """ECS deployment circuit breaker: 0.5 x desired count, at least 3, at most 200 failed tasks."""
    return min(200, max(3, -(-desired // 2)))


def rollout_limits(desired, maximum_percent=200, minimum_healthy_percent=100):
    """(max tasks alive, min healthy tasks) during a rolling update."""
    max_total = (desired * int(maximum_percent)) // 100
    min_healthy = -(-(desired * int(minimum_healthy_percent)) // 100)
    if desired > 0 and max_total <= min_healthy:
        max_total = min_healthy + 1     # AWS rejects such a pair; the lab lets the rollout move one at a time
    return max(max_total, 0), max(min_healthy, 0)


def plan_step(desired, new_alive, old_alive, old_healthy, new_healthy, max_total, min_healthy):
    """(tasks to start for the new deployment, old tasks to stop, new tasks to stop) in one scheduler step."""
    start = max(0, min(desired - new_alive, max_total - new_alive - old_alive))
    stop_new = max(0, new_alive - desired)
    old_unhealthy = old_alive - old_healthy
    stop_old = old_unhealthy + min(old_healthy, max(0, new_healthy + old_healthy - min_healthy))
    return start, stop_old, stop_new
