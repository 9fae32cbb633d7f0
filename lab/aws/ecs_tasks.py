"""ECS services run real tasks: desiredCount -> local processes of the sample app, rolling deployments.

moto 5.2.5 never creates tasks for a service and never makes a new deployment. Here a controller thread
reconciles every service every TICK_S:
  - tasks are `python -m lab.app` processes (lab.tasks), each on its own loopback address, moving
    PROVISIONING -> PENDING -> RUNNING, and on stop DEACTIVATING (deregistered, draining for the target
    group's deregistration delay) -> STOPPING (SIGTERM) -> STOPPED, with stoppedReason / stopCode;
  - RUNNING tasks are registered in the service's target groups and stopped when the target group
    reports them unhealthy ("Task failed ELB health checks in (target-group ...)");
  - update_service with a new task definition (or forceNewDeployment) makes a new PRIMARY deployment beside
    the ACTIVE one; old tasks are replaced honouring maximumPercent / minimumHealthyPercent; the rollout
    is COMPLETED when the new tasks are all healthy and the old ones gone, FAILED after the circuit
    breaker's number of failed tasks (the lab applies that bound even when the breaker is off, so no
    loop runs forever; rollback=true rolls back to the previous deployment's task definition);
  - service events are worded as ECS words them; deploymentConfiguration is kept (moto drops it);
  - every METRIC_PERIOD, AWS/ECS CPUUtilization and MemoryUtilization per service from /proc (held back
    METRIC_DELAY_PERIODS periods, as the ALB's, when CloudWatch is shaped like AWS).
"""
import logging
import threading
import time
import uuid
from datetime import datetime, timezone

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.ecr.models import ecr_backends
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException
from moto.elbv2.models import elbv2_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends

from lab import config
from lab.alb import DelayedDelivery, parse_delay_periods
from lab.aws.task_env import (TaskStartError, breaker_threshold, container_port, plan_step, resolve_image_tag,
                              rollout_limits, task_environment)
from lab.tasks import IpPool, TaskProcess

LOG = logging.getLogger("lab.ecs")
TICK_S = 0.5
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
FAILURE_BACKOFF_S = 1.0
MAX_EVENTS = 100
KEEP_STOPPED = 50
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
ALIVE = ("PROVISIONING", "PENDING", "RUNNING")


def _now():
    return datetime.now(timezone.utc)


def _short(task_id):
    return task_id


class LabTask:
    def __init__(self, service, deployment, task_def, cluster):
        self.id = uuid.uuid4().hex
        self.arn = "arn:aws:ecs:%s:%s:task/%s/%s" % (cluster.region_name, service._account_id, cluster.name, self.id)
        self.cluster_arn = cluster.arn
        self.cluster_name = cluster.name
        self.service_name = service.name
        self.deployment_id = deployment["id"]
        self.task_def = task_def
        self.container = dict((task_def.container_definitions or [{}])[0])
        self.port = container_port(self.container, config.CONTAINER_PORT)
        self.image_tag = None
        self.ip = None
        self.eni_id = "eni-%s" % uuid.uuid4().hex[:17]
        self.attachment_id = str(uuid.uuid4())
        self.subnet_id = ((service.network_configuration or {}).get("awsvpcConfiguration") or {}).get(
            "subnets", [None])[0]
        self.last_status = "PROVISIONING"
        self.desired_status = "RUNNING"
        self.created_at = _now()
        self.pull_started_at = self.pull_stopped_at = self.started_at = None
        self.stopping_at = self.stopped_at = self.execution_stopped_at = None
        self.stopped_reason = None
        self.stop_code = None
        self.exit_code = None
        self.process = None
        self.registered = []            # target group ARNs
        self.drain_until = None
        self.stop_sent = None
        self.version = 1
        self.launch_type = service.launch_type or "FARGATE"

    @property
    def alive(self):
        return self.desired_status == "RUNNING" and self.last_status in ALIVE

    def to_api(self):
        container_status = {"PROVISIONING": "PENDING", "DEACTIVATING": "RUNNING", "STOPPING": "RUNNING"}.get(
            self.last_status, self.last_status)
        details = [{"name": "subnetId", "value": self.subnet_id or ""},
                   {"name": "networkInterfaceId", "value": self.eni_id},
                   {"name": "privateDnsName", "value": "ip-%s.ec2.internal" % (self.ip or "").replace(".", "-")},
                   {"name": "privateIPv4Address", "value": self.ip or ""}]
        container = {
            "containerArn": "arn:aws:ecs:%s:%s:container/%s/%s/%s" % (
                config.REGION, config.ACCOUNT_ID, self.cluster_name, self.id, uuid.uuid5(uuid.NAMESPACE_URL, self.id)),
            "taskArn": self.arn,
            "name": self.container.get("name", config.CONTAINER_NAME),
            "image": self.container.get("image", ""),
            "lastStatus": container_status,
            "networkBindings": [],
            "networkInterfaces": [{"attachmentId": self.attachment_id, "privateIpv4Address": self.ip}] if self.ip else [],
            "healthStatus": "UNKNOWN",
            "cpu": str(self.container.get("cpu", 0)),
        }
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        if self.stopped_reason and self.last_status == "STOPPED":
            container["reason"] = self.stopped_reason
        task = {
            "taskArn": self.arn,
            "clusterArn": self.cluster_arn,
            "taskDefinitionArn": self.task_def.arn,
            "group": "service:%s" % self.service_name,
            "startedBy": self.deployment_id,
            "lastStatus": self.last_status,
            "desiredStatus": self.desired_status,
            "launchType": self.launch_type,
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "cpu": str(self.task_def.cpu or ""),
            "memory": str(self.task_def.memory or ""),
            "availabilityZone": "%sa" % config.REGION,
            "connectivity": "CONNECTED" if self.ip else "DISCONNECTED",
            "createdAt": self.created_at,
            "healthStatus": "UNKNOWN",
            "version": self.version,
            "attachments": [{"id": self.attachment_id, "type": "ElasticNetworkInterface",
                             "status": "DELETED" if self.last_status == "STOPPED" else "ATTACHED",
                             "details": details}],
            "containers": [container],
            "overrides": {"containerOverrides": [{"name": container["name"]}]},
            "tags": [],
        }
        for key, value in (("pullStartedAt", self.pull_started_at), ("pullStoppedAt", self.pull_stopped_at),
                           ("startedAt", self.started_at), ("stoppingAt", self.stopping_at),
                           ("stoppedAt", self.stopped_at), ("executionStoppedAt", self.execution_stopped_at),
                           ("connectivityAt", self.pull_started_at)):
            if value is not None:
                task[key] = value
        if self.stopped_reason:
            task["stoppedReason"] = self.stopped_reason
        if self.stop_code:
            task["stopCode"] = self.stop_code
        return task


class ServiceRuntime:
    def __init__(self, service):
        self.service = service
        self.tasks = []
        self.steady = False
        self.last_failure = 0.0
        self.task_def_arn = None


class EcsController:
    """Owns every service task. install() patches moto; start() runs the scheduler thread."""

    def __init__(self, checker, account_id=None, region=None):
        self.checker = checker
        self.account_id = account_id or config.ACCOUNT_ID
        self.region = region or config.REGION
        self.lock = threading.RLock()
        self.runtimes = {}              # service ARN -> ServiceRuntime
        self.ips = IpPool()
        self._stop = threading.Event()
        self._thread = None
        self._next_metrics = None
        self._metric_delivery = DelayedDelivery(parse_delay_periods(config.METRIC_DELAY_PERIODS))

    # ---------------------------------------------------------------- backends
    def ecs(self):
        return ecs_models.ecs_backends[self.account_id][self.region]

    def elbv2(self):
        return elbv2_backends[self.account_id][self.region]

    # ---------------------------------------------------------------- events and deployments
    @staticmethod
    def event(service, message):
        service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _now(),
                                  "message": "(service %s) %s" % (service.name, message)})
        del service.events[MAX_EVENTS:]

    def _new_deployment(self, service, task_def_arn):
        now = _now()
        deployment = {
            "id": "ecs-svc/%019d" % (uuid.uuid4().int % 10 ** 19),
            "status": "PRIMARY",
            "taskDefinition": task_def_arn,
            "desiredCount": service.desired_count,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "launchType": service.launch_type or "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "networkConfiguration": service.network_configuration or None,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": "ECS deployment %s in progress.",
        }
        deployment["rolloutStateReason"] = deployment["rolloutStateReason"] % deployment["id"]
        if not deployment["networkConfiguration"]:
            del deployment["networkConfiguration"]
        for old in service.deployments:
            if old["status"] == "PRIMARY":
                old["status"] = "ACTIVE"
                old["updatedAt"] = now
        service.deployments.insert(0, deployment)
        return deployment

    def adopt(self, service):
        """A service moto just created: its first deployment is ours to run."""
        with self.lock:
            if not hasattr(service, "deployment_configuration") or not service.deployment_configuration:
                service.deployment_configuration = dict(DEFAULT_DEPLOYMENT_CONFIGURATION)
            service.deployments = []
            service.running_count = service.pending_count = 0
            task_def_arn = self.ecs().describe_task_definition(service.task_definition).arn
            service.task_definition = task_def_arn
            self._new_deployment(service, task_def_arn)
            runtime = self.runtimes[service.arn] = ServiceRuntime(service)
            runtime.task_def_arn = task_def_arn
            return runtime

    def on_update(self, service, force_new_deployment):
        with self.lock:
            runtime = self.runtimes.get(service.arn) or self.adopt(service)
            task_def_arn = self.ecs().describe_task_definition(service.task_definition).arn
            service.task_definition = task_def_arn
            if task_def_arn != runtime.task_def_arn or force_new_deployment:
                runtime.task_def_arn = task_def_arn
                runtime.steady = False
                self._new_deployment(service, task_def_arn)
            else:
                primary = service.deployments[0]
                primary["desiredCount"] = service.desired_count
                primary["updatedAt"] = _now()

    # ---------------------------------------------------------------- task lifecycle
    def _start_task(self, runtime, deployment):
        service = runtime.service
        backend = self.ecs()
        task_def = backend.describe_task_definition(deployment["taskDefinition"])
        task = LabTask(service, deployment, task_def, backend.clusters[service.cluster_name])
        runtime.tasks.append(task)
        return task

    def _launch(self, runtime, task):
        """PROVISIONING -> PENDING: resolve image and secrets, start the process."""
        task.pull_started_at = _now()
        try:
            task.image_tag = resolve_image_tag(task.container.get("image", ""),
                                               ecr_backends[self.account_id][self.region])
            env = task_environment(task.container, task.task_def.cpu, task.task_def.memory, task.image_tag,
                                   secretsmanager_backends[self.account_id][self.region],
                                   ssm_backends[self.account_id][self.region])
            task.ip = self.ips.allocate(task.port)
            env.update({"LAB_BIND": task.ip, "PORT": str(task.port), "LAB_TASK_ARN": task.arn,
                        "ECS_TASK_ARN": task.arn, "LAB_SERVICE": runtime.service.name})
            task.process = TaskProcess(task.id, task.ip, task.port, env)
            del env
        except TaskStartError as e:
            self._stopped(runtime, task, str(e), e.stop_code, failed=True)
            return
        task.pull_stopped_at = _now()
        task.last_status = "PENDING"
        task.version += 1

    def _target_groups(self, service, task):
        name = task.container.get("name")
        return [lb["targetGroupArn"] for lb in service.load_balancers or []
                if lb.get("targetGroupArn") and lb.get("containerName", name) == name
                and int(lb.get("containerPort", task.port)) == task.port]

    def _register(self, runtime, task):
        elbv2 = self.elbv2()
        for tg_arn in self._target_groups(runtime.service, task):
            if tg_arn in elbv2.target_groups:
                elbv2.register_targets(tg_arn, [{"Id": task.ip, "Port": task.port}])
                task.registered.append(tg_arn)

    def _deregister(self, runtime, task):
        """Deregister from every target group; returns the longest deregistration delay."""
        elbv2 = self.elbv2()
        delay = 0.0
        by_tg = {}
        for tg_arn in task.registered:
            tg = elbv2.target_groups.get(tg_arn)
            if tg is not None and task.ip in tg.targets:
                elbv2.deregister_targets(tg_arn, [{"Id": task.ip, "Port": task.port}])
                delay = max(delay, float(tg.attributes.get("deregistration_delay.timeout_seconds", 300)))
                by_tg[tg_arn] = by_tg.get(tg_arn, 0) + 1
        task.registered = []
        return delay, by_tg

    def _begin_stop(self, runtime, task, reason, stop_code="ServiceSchedulerInitiated", failed=False):
        if task.desired_status == "STOPPED":
            return
        task.desired_status = "STOPPED"
        task.stopping_at = _now()
        task.stopped_reason = reason
        task.stop_code = stop_code
        task.version += 1
        if failed:
            self._count_failure(runtime, task)
        if task.process is None:
            self._stopped(runtime, task, reason, stop_code)
            return
        delay, _ = self._deregister(runtime, task) if task.registered else (0.0, {})
        if delay > 0 and task.last_status == "RUNNING" and task.process.exit_code() is None:
            task.last_status = "DEACTIVATING"
            task.drain_until = time.time() + delay
        else:
            self._terminate(task)

    def _terminate(self, task):
        task.last_status = "STOPPING"
        task.stop_sent = time.time()
        task.process.terminate()

    def _count_failure(self, runtime, task):
        runtime.last_failure = time.time()
        for deployment in runtime.service.deployments:
            if deployment["id"] == task.deployment_id:
                deployment["failedTasks"] += 1

    def _stopped(self, runtime, task, reason, stop_code, failed=False):
        if task.desired_status != "STOPPED" and failed:
            self._count_failure(runtime, task)
        if task.registered:
            self._deregister(runtime, task)
        task.desired_status = "STOPPED"
        task.stopped_reason = task.stopped_reason or reason
        task.stop_code = task.stop_code or stop_code
        task.last_status = "STOPPED"
        task.stopped_at = task.execution_stopped_at = _now()
        task.stopping_at = task.stopping_at or task.stopped_at
        task.version += 1
        if task.process is not None:
            task.exit_code = task.process.exit_code()
            task.process.cleanup()
        if task.ip:
            self.ips.release(task.ip)

    def _advance(self, runtime, task, now):
        """Move one task along its lifecycle from what its process and its target groups say."""
        service = runtime.service
        if task.last_status == "PROVISIONING" and task.desired_status == "RUNNING":
            self._launch(runtime, task)
            return
        if task.last_status == "STOPPED" or task.process is None:
            return
        exit_code = task.process.exit_code()
        if task.last_status in ("PENDING", "RUNNING") and exit_code is not None:
            task.exit_code = exit_code
            self._stopped(runtime, task, "Essential container in task exited", "EssentialContainerExited",
                          failed=True)
            return
        if task.last_status == "PENDING":
            if task.process.ready():
                task.last_status = "RUNNING"
                task.started_at = _now()
                task.version += 1
                self._register(runtime, task)
            elif (now - task.created_at).total_seconds() > START_TIMEOUT_S:
                self._begin_stop(runtime, task, "Task failed to start", "TaskFailedToStart", failed=True)
        elif task.last_status == "RUNNING":
            for tg_arn in task.registered:
                state = self.checker.health(tg_arn, task.ip)
                if state and state[0] == "unhealthy":
                    self.event(service, "(task %s) (port %d) is unhealthy in (target-group %s) due to (reason %s)."
                               % (task.id, task.port, tg_arn, state[2]))
                    self._begin_stop(runtime, task, "Task failed ELB health checks in (target-group %s)" % tg_arn,
                                     failed=True)
                    break
        elif task.last_status == "DEACTIVATING":
            if time.time() >= task.drain_until or exit_code is not None:
                self._terminate(task)
        elif task.last_status == "STOPPING":
            if exit_code is not None:
                self._stopped(runtime, task, task.stopped_reason, task.stop_code)
            elif time.time() - task.stop_sent > STOP_TIMEOUT_S:
                task.process.kill()

    def healthy(self, runtime, task):
        if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
            return False
        wanted = self._target_groups(runtime.service, task)
        if not wanted:
            return True
        if sorted(task.registered) != sorted(wanted):
            return False
        return all((self.checker.health(tg, task.ip) or ("",))[0] == "healthy" for tg in task.registered)

    # ---------------------------------------------------------------- the scheduler
    def _stop_many(self, runtime, tasks, reason):
        if not tasks:
            return
        deregistered = {}
        draining = 0
        for task in tasks:
            had_targets = list(task.registered)
            self._begin_stop(runtime, task, reason)
            for tg in had_targets:
                deregistered[tg] = deregistered.get(tg, 0) + 1
            draining += task.last_status == "DEACTIVATING"
        service = runtime.service
        for tg, n in deregistered.items():
            self.event(service, "deregistered %d targets in (target-group %s)" % (n, tg))
        if draining:
            self.event(service, "has begun draining connections on %d tasks." % draining)
        self.event(service, "has stopped %d running tasks: %s." % (
            len(tasks), " ".join("(task %s)" % t.id for t in tasks)))

    def reconcile(self, runtime):
        service = runtime.service
        now = _now()
        registered_before = {id(t): len(t.registered) for t in runtime.tasks}
        for task in list(runtime.tasks):
            self._advance(runtime, task, now)
        newly = {}
        for task in runtime.tasks:
            if len(task.registered) > registered_before.get(id(task), 0):
                for tg in task.registered:
                    newly[tg] = newly.get(tg, 0) + 1
        for tg, n in newly.items():
            self.event(service, "registered %d targets in (target-group %s)" % (n, tg))

        if not service.deployments:
            return
        primary = service.deployments[0]
        active = service.status == "ACTIVE"
        desired = service.desired_count if active else 0
        primary["desiredCount"] = desired
        conf = dict(DEFAULT_DEPLOYMENT_CONFIGURATION, **(service.deployment_configuration or {}))
        max_total, min_healthy = rollout_limits(desired, conf.get("maximumPercent", 200),
                                                conf.get("minimumHealthyPercent", 100))
        new = [t for t in runtime.tasks if t.deployment_id == primary["id"] and t.alive]
        old = [t for t in runtime.tasks if t.deployment_id != primary["id"] and t.alive]
        old_healthy = [t for t in old if self.healthy(runtime, t)]
        new_healthy = [t for t in new if self.healthy(runtime, t)]
        start, stop_old, stop_new = plan_step(desired, len(new), len(old), len(old_healthy), len(new_healthy),
                                              max_total, min_healthy)
        reason = "Scaling activity initiated by (deployment %s)" % primary["id"]
        if stop_old:
            unhealthy_first = [t for t in old if t not in old_healthy] + sorted(old_healthy, key=lambda t: t.created_at)
            self._stop_many(runtime, unhealthy_first[:stop_old], reason)
        if stop_new:
            order = [t for t in new if t not in new_healthy] + sorted(new_healthy, key=lambda t: t.created_at,
                                                                       reverse=True)
            self._stop_many(runtime, order[:stop_new], reason)

        failed_rollout = primary["rolloutState"] == "FAILED"
        backoff = time.time() - runtime.last_failure < FAILURE_BACKOFF_S
        if start and active and not failed_rollout and not backoff:
            started = [self._start_task(runtime, primary) for _ in range(start)]
            self.event(service, "has started %d tasks: %s." % (len(started), " ".join("(task %s)" % t.id
                                                                                      for t in started)))
            runtime.steady = False

        if primary["rolloutState"] == "IN_PROGRESS" and primary["failedTasks"] >= breaker_threshold(desired):
            self._fail_rollout(runtime, primary, conf)
            primary = service.deployments[0]

        # deployments whose tasks are all gone leave the list (ECS drops them)
        alive_by_deployment = {}
        for t in runtime.tasks:
            if t.last_status != "STOPPED":
                alive_by_deployment[t.deployment_id] = alive_by_deployment.get(t.deployment_id, 0) + 1
        service.deployments[1:] = [d for d in service.deployments[1:] if alive_by_deployment.get(d["id"])]

        # counts
        for d in service.deployments:
            mine = [t for t in runtime.tasks if t.deployment_id == d["id"]]
            running = sum(t.last_status == "RUNNING" for t in mine)
            pending = sum(t.last_status in ("PROVISIONING", "PENDING") for t in mine)
            if (running, pending) != (d["runningCount"], d["pendingCount"]):
                d["runningCount"], d["pendingCount"], d["updatedAt"] = running, pending, now
            if d is not primary:
                d["desiredCount"] = sum(t.alive for t in mine)
        service.running_count = sum(t.last_status == "RUNNING" for t in runtime.tasks)
        service.pending_count = sum(t.last_status in ("PROVISIONING", "PENDING") for t in runtime.tasks)

        new = [t for t in runtime.tasks if t.deployment_id == primary["id"] and t.alive]
        settled = (len(service.deployments) == 1 and len(new) == desired
                   and all(self.healthy(runtime, t) for t in new)
                   and not any(t.last_status in ("DEACTIVATING", "STOPPING") for t in runtime.tasks))
        if settled and primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = "ECS deployment %s completed." % primary["id"]
            primary["updatedAt"] = now
            self.event(service, "(deployment %s) deployment completed." % primary["id"])
        if settled and not runtime.steady and primary["rolloutState"] != "FAILED":
            runtime.steady = True
            self.event(service, "has reached a steady state.")
        elif not settled:
            runtime.steady = False

        stopped = [t for t in runtime.tasks if t.last_status == "STOPPED"]
        if len(stopped) > KEEP_STOPPED:
            drop = set(id(t) for t in sorted(stopped, key=lambda t: t.stopped_at)[:len(stopped) - KEEP_STOPPED])
            runtime.tasks = [t for t in runtime.tasks if id(t) not in drop]

    def _fail_rollout(self, runtime, primary, conf):
        service = runtime.service
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        primary["updatedAt"] = _now()
        self.event(service, "(deployment %s) deployment failed: tasks failed to start." % primary["id"])
        breaker = conf.get("deploymentCircuitBreaker") or {}
        previous = next((d for d in service.deployments[1:] if d["taskDefinition"] != primary["taskDefinition"]),
                        None)
        if breaker.get("enable") and breaker.get("rollback") and previous is not None:
            service.task_definition = runtime.task_def_arn = previous["taskDefinition"]
            rollback = self._new_deployment(service, previous["taskDefinition"])
            self.event(service, "(deployment %s) rolling back to deployment %s." % (primary["id"], rollback["id"]))
            # the failed deployment's tasks are replaced like any ACTIVE deployment's
        else:
            for task in [t for t in runtime.tasks if t.deployment_id == primary["id"] and t.alive
                         and t.last_status != "RUNNING"]:
                self._begin_stop(runtime, task, "Scaling activity initiated by (deployment %s)" % primary["id"])

    def tick(self):
        with self.lock:
            backend = self.ecs()
            services = {s.arn: s for s in list(backend.services.values())}
            for arn, service in services.items():
                runtime = self.runtimes.get(arn)
                if runtime is None or runtime.service is not service:
                    if runtime is not None:     # moto was reset under us: the old service's tasks must go
                        self._stop_processes(runtime)
                    if service.status != "ACTIVE" or not service.task_definition:
                        self.runtimes.pop(arn, None)
                        continue
                    runtime = self.adopt(service)
                self.reconcile(runtime)
                if service.status != "ACTIVE" and all(t.last_status == "STOPPED" for t in runtime.tasks):
                    del self.runtimes[arn]      # deleted (INACTIVE) and drained: nothing left to run
            for arn in [a for a in self.runtimes if a not in services]:
                runtime = self.runtimes[arn]
                self._stop_many(runtime, [t for t in runtime.tasks if t.alive], "Service deleted")
                for task in runtime.tasks:
                    self._advance(runtime, task, _now())
                if all(t.last_status == "STOPPED" for t in runtime.tasks):
                    del self.runtimes[arn]
            for cluster in list(backend.clusters.values()):
                mine = [r for r in self.runtimes.values() if r.service.cluster_name == cluster.name]
                cluster.running_tasks_count = sum(r.service.running_count for r in mine)
                cluster.pending_tasks_count = sum(r.service.pending_count for r in mine)
                cluster.active_services_count = sum(r.service.status == "ACTIVE" for r in mine)
        self._maybe_publish_metrics()

    # ---------------------------------------------------------------- CPU / memory metrics
    def _maybe_publish_metrics(self):
        period = config.METRIC_PERIOD
        now = time.time()
        if self._next_metrics is None:
            self._next_metrics = (int(now // period) + 1) * period
            with self.lock:
                for runtime in self.runtimes.values():
                    for task in runtime.tasks:
                        if task.process and task.last_status == "RUNNING":
                            task.process.cpu_fraction()
            return
        if now < self._next_metrics:
            return
        period_start = self._next_metrics - period
        stamp = datetime.fromtimestamp(period_start, timezone.utc)
        self._next_metrics = (int(now // period) + 1) * period
        datums = []
        with self.lock:
            for runtime in self.runtimes.values():
                cpu, mem = [], []
                for task in runtime.tasks:
                    if task.process is None or task.last_status != "RUNNING":
                        continue
                    fraction = task.process.cpu_fraction()
                    rss = task.process.rss_bytes()
                    cpu_units = float(task.task_def.cpu or task.container.get("cpu") or 1024)
                    mem_mib = float(task.task_def.memory or task.container.get("memory") or 512)
                    if fraction is not None:
                        cpu.append(round(100.0 * fraction / (cpu_units / 1024.0), 4))
                    if rss is not None:
                        mem.append(round(100.0 * rss / (mem_mib * 1024 * 1024), 4))
                dims = [{"Name": "ClusterName", "Value": runtime.service.cluster_name},
                        {"Name": "ServiceName", "Value": runtime.service.name}]
                for name, values in (("CPUUtilization", cpu), ("MemoryUtilization", mem)):
                    if values:
                        datums.append({"MetricName": name, "Dimensions": dims, "Values": values,
                                       "Unit": "Percent", "Timestamp": stamp})
        self._metric_delivery.hold(period_start, period, datums)
        for _, held in self._metric_delivery.release(now):
            cloudwatch_backends[self.account_id][self.region].put_metric_data("AWS/ECS", held)
        usage = self._fargate_usage(stamp)
        if usage:
            cloudwatch_backends[self.account_id][self.region].put_metric_data("AWS/Usage", usage)

    def _fargate_usage(self, stamp):
        """AWS/Usage ResourceCount of Fargate vCPUs (what the Fargate vCPU quotas count), per class; as in AWS, no
        datapoint for a class with nothing running."""
        vcpus = {}
        with self.lock:
            for runtime in self.runtimes.values():
                service = runtime.service
                providers = [s.get("capacityProvider") for s in (getattr(service, "capacity_provider_strategy", None) or [])]
                if getattr(service, "launch_type", None) == "FARGATE" or (providers and "FARGATE" in providers):
                    klass = "Standard/OnDemand"
                elif providers and set(providers) == {"FARGATE_SPOT"}:
                    klass = "Standard/Spot"
                else:
                    continue
                for task in runtime.tasks:
                    if task.last_status in ALIVE:
                        cpu_units = float(task.task_def.cpu or task.container.get("cpu") or 256)
                        vcpus[klass] = vcpus.get(klass, 0.0) + cpu_units / 1024.0
        return [{"MetricName": "ResourceCount", "Value": round(value, 4), "Unit": "None", "Timestamp": stamp,
                 "Dimensions": [{"Name": "Service", "Value": "Fargate"}, {"Name": "Type", "Value": "Resource"},
                                {"Name": "Resource", "Value": "vCPU"}, {"Name": "Class", "Value": klass}]}
                for klass, value in sorted(vcpus.items()) if value > 0]

    # ---------------------------------------------------------------- thread, reset, shutdown
    def _loop(self):
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                LOG.exception("ECS scheduler tick failed")
            self._stop.wait(TICK_S)

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="lab-ecs", daemon=True)
        self._thread.start()
        return self

    def _stop_processes(self, runtime):
        for task in runtime.tasks:
            if task.process is not None and task.process.exit_code() is None:
                task.process.terminate()
                task.process.wait(STOP_TIMEOUT_S)
            if task.ip:
                self.ips.release(task.ip)

    def stop_all_tasks(self, timeout=STOP_TIMEOUT_S):
        """Stop every task process now (reset / shutdown): SIGTERM, bounded wait, SIGKILL."""
        with self.lock:
            procs = [t.process for r in self.runtimes.values() for t in r.tasks
                     if t.process is not None and t.process.exit_code() is None]
            for proc in procs:
                proc.terminate()
            deadline = time.time() + timeout
            for proc in procs:
                proc.wait(max(0.1, deadline - time.time()))
            for r in self.runtimes.values():
                for t in r.tasks:
                    if t.process is not None:
                        t.process.cleanup()
            self.runtimes.clear()
            self.ips = IpPool()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.stop_all_tasks()

    def find_task(self, task_ref):
        task_id = task_ref.rsplit("/", 1)[-1]
        for runtime in self.runtimes.values():
            for task in runtime.tasks:
                if task.id == task_id:
                    return runtime, task
        return None, None

    # ---------------------------------------------------------------- moto patches
    def install(self):
        ecs_responses.EC2ContainerServiceResponse._lab_controller = self
        if getattr(ecs_responses.EC2ContainerServiceResponse, "_lab_patched", False):
            return self
        ecs_responses.EC2ContainerServiceResponse._lab_patched = True
        cls = ecs_responses.EC2ContainerServiceResponse
        original = {name: getattr(cls, name) for name in
                    ("create_service", "update_service", "describe_tasks", "list_tasks", "stop_task")}

        def controller():
            return cls._lab_controller

        def create_service(resp):
            conf = resp._get_param("deploymentConfiguration")
            result = original["create_service"](resp)
            service = resp.ecs_backend._get_service(resp._get_param("cluster", "default"),
                                                    resp._get_param("serviceName"))
            service.deployment_configuration = dict(DEFAULT_DEPLOYMENT_CONFIGURATION, **(conf or {}))
            if service.task_definition:
                controller().adopt(service)
            return result

        def update_service(resp):
            cluster = resp._get_param("cluster", "default")
            service = resp.ecs_backend._get_service(cluster, resp._get_param("service").split("/")[-1])
            conf_before = getattr(service, "deployment_configuration", None) or dict(DEFAULT_DEPLOYMENT_CONFIGURATION)
            with controller().lock:
                counts = (service.running_count, service.pending_count)
                result = original["update_service"](resp)
                service.running_count, service.pending_count = counts
                conf = resp._get_param("deploymentConfiguration")
                service.deployment_configuration = dict(conf_before, **(conf or {}))
                controller().on_update(service, bool(resp._get_param("forceNewDeployment")))
            return result

        def describe_tasks(resp):
            refs = resp._get_param("tasks", []) or []
            if not refs:
                raise InvalidParameterException("Tasks cannot be empty.")
            resp.ecs_backend._get_cluster(resp._get_param("cluster", "default"))
            found, rest = [], []
            with controller().lock:
                for ref in refs:
                    _, task = controller().find_task(ref)
                    (found.append(task.to_api()) if task else rest.append(ref))
            failures = []
            moto_tasks = resp.ecs_backend.describe_tasks(resp._get_param("cluster", "default"), rest) if rest else []
            known = set()
            for t in moto_tasks:
                known.update((t.task_arn, t.task_arn.rsplit("/", 1)[-1]))
            for ref in rest:
                if ref not in known and ref.rsplit("/", 1)[-1] not in known:
                    failures.append({"arn": ref, "reason": "MISSING"})
            return ActionResult({"tasks": found + list(moto_tasks), "failures": failures})

        def list_tasks(resp):
            cluster = resp.ecs_backend._get_cluster(resp._get_param("cluster", "default"))
            service_name = resp._get_param("serviceName")
            family = resp._get_param("family")
            started_by = resp._get_param("startedBy")
            desired = resp._get_param("desiredStatus") or "RUNNING"
            arns = []
            with controller().lock:
                for runtime in controller().runtimes.values():
                    if runtime.service.cluster_name != cluster.name:
                        continue
                    if service_name and service_name.split("/")[-1] != runtime.service.name:
                        continue
                    for task in runtime.tasks:
                        if task.desired_status != desired:
                            continue
                        if family and task.task_def.family != family:
                            continue
                        if started_by and task.deployment_id != started_by:
                            continue
                        arns.append(task.arn)
            if not service_name:
                moto_tasks = resp.ecs_backend.list_tasks(cluster.name, resp._get_param("containerInstance"), family,
                                                         started_by, None, desired)
                arns += [t.task_arn for t in moto_tasks]
            return ActionResult({"taskArns": arns})

        def stop_task(resp):
            ref = resp._get_param("task")
            with controller().lock:
                runtime, task = controller().find_task(ref)
                if task is not None:
                    controller()._begin_stop(runtime, task, resp._get_param("reason") or "Task stopped by user",
                                             "UserInitiated")
                    return ActionResult({"task": task.to_api()})
            return original["stop_task"](resp)

        cls.create_service, cls.update_service = create_service, update_service
        cls.describe_tasks, cls.list_tasks, cls.stop_task = describe_tasks, list_tasks, stop_task
        return self
