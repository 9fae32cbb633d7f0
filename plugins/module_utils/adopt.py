# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Adoption of an existing service behind an ALB into the blue-green slot layout, and back - the plan or the refusal.

Pure functions, no AWS: the ecs_adopt_info module describes, these decide; the ecs_adopt role applies the plan
with amazon.aws / community.aws modules and ours. Inputs are the API's own shapes (describe_services entries,
describe_target_groups entries, a listener, a rule).

Adopting (state present), from what AWS says now:
  - the existing service and its target group become slot `a`, untouched (nothing serving traffic restarts);
  - slot `b`'s target group is created as a copy of slot a's (protocol, port, VPC, target type, health check,
    attributes, tags);
  - the production listener's forward (its default action, or a given rule) to slot a's target group becomes a
    weighted forward a 100 / b 0 - the same traffic, and slot b's target group is then in use by the load balancer
    (ECS refuses a service on a target group no load balancer uses);
  - slot b's service is created from slot a's: same task definition, network configuration, launch type or
    capacity providers, placement, tags, the load balancer entry on slot b's target group, desired count 0, the
    ECS deployment controller and a deployment circuit breaker (without ECS's own rollback: the collection rolls
    back);
  - a test route to slot b when asked: a listener of its own port, or a header rule on the production listener.
Every step is planned only when AWS does not show it done, so a rerun - or a run after deployments moved the
weights - changes nothing.

Folding back (state absent): the slot that serves 100 % stays; the other slot's test route, its place in the
forward, its service and its target group go, in that order.
"""

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils import weights as wlib

SLOTS = ("a", "b")
TG_NAME_MAX = 32

# Target group attributes copied to slot b: those community.aws.elb_target_group sets (slow start is not among them).
COPIED_TG_ATTRIBUTES = (
    "deregistration_delay.timeout_seconds", "load_balancing.algorithm.type",
    "stickiness.enabled", "stickiness.type", "stickiness.lb_cookie.duration_seconds",
    "stickiness.app_cookie.duration_seconds", "stickiness.app_cookie.cookie_name",
)


def tags_dict(tags):
    """{key: value} from an ECS (key/value) or ELBv2 (Key/Value) tag list; a dict is returned as is."""
    if isinstance(tags, dict):
        return dict(tags)
    out = {}
    for tag in tags or []:
        key = tag.get("key", tag.get("Key"))
        out[key] = tag.get("value", tag.get("Value"))
    return out


# The name in a target group ARN (`...:targetgroup/<name>/<id>`); anything else unchanged.
tg_name = arns.target_group_name


def forward_of(actions):
    """(index, {target group ARN: weight}) of the forward action among `actions`; (None, {}) without one.

    A plain forward (TargetGroupArn, no ForwardConfig) is 100 % to its target group (weights.read_forward).
    """
    return wlib.forward_action_index(actions), wlib.forward_weights(actions)


def stickiness_of(actions):
    """Group stickiness seconds of the forward action (0 when disabled or absent)."""
    return (wlib.read_forward(actions) or {}).get("stickiness_duration", 0)


def check_slot_names(slots):
    """Errors in the slot names ({a: {service, target_group}, b: {...}}), before any AWS call."""
    errors = []
    for slot in SLOTS:
        entry = (slots or {}).get(slot) or {}
        if not entry.get("service"):
            errors.append("ecs_validate_slot_names.%s.service is empty: name the ECS service of slot %s" % (slot, slot))
        name = entry.get("target_group") or ""
        if not name:
            errors.append("ecs_validate_slot_names.%s.target_group is empty: name the target group of slot %s" % (slot, slot))
        elif not name.startswith("arn:") and (len(name) > TG_NAME_MAX or not all(c.isalnum() or c == "-" for c in name)
                                              or name.startswith("-") or name.endswith("-")):
            errors.append("ecs_validate_slot_names.%s.target_group %r is not a valid target group name (1-%d letters, digits "
                          "and hyphens, not starting or ending with a hyphen)" % (slot, name, TG_NAME_MAX))
    if not errors:
        a, b = slots["a"], slots["b"]
        if a["service"] == b["service"]:
            errors.append("ecs_validate_slot_names: slots a and b name the same service %s" % a["service"])
        if tg_name(a["target_group"]) == tg_name(b["target_group"]):
            errors.append("ecs_validate_slot_names: slots a and b name the same target group %s" % tg_name(a["target_group"]))
    return errors


def _active(service):
    return bool(service) and service.get("status") == "ACTIVE"


def refuse_live_service(service, name, cluster):
    """Why an existing service cannot be adopted (None when it can): missing, controller, scheduling, load balancers."""
    if not _active(service):
        return ("service %s is not an ACTIVE service in cluster %s: ecs_validate_slot_names.a.service must name the service "
                "that serves the application now" % (name, cluster))
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    if controller == "CODE_DEPLOY":
        return ("service %s is deployed by CodeDeploy (deployment controller CODE_DEPLOY): CodeDeploy owns its "
                "blue/green and its listeners; keep deploying it with CodeDeploy, or create the service again with the "
                "ECS deployment controller and adopt that one" % name)
    if controller != "ECS":
        return ("service %s has the %s deployment controller (task sets managed outside ECS): adoption needs the ECS "
                "controller; create the service again with deploymentController ECS and adopt that one" % (name, controller))
    if service.get("schedulingStrategy") == "DAEMON":
        return ("service %s uses the DAEMON scheduling strategy (one task per instance): two slots of it cannot share "
                "traffic by weight; only REPLICA services can be adopted" % name)
    balancers = service.get("loadBalancers") or []
    if not balancers:
        return ("service %s has no load balancer: adoption turns an ALB listener's forward into the slots' weighted "
                "forward; register the service in an ALB target group (UpdateService loadBalancers) and forward the "
                "production listener to it, then adopt" % name)
    classic = [b["loadBalancerName"] for b in balancers if b.get("loadBalancerName")]
    if classic:
        return ("service %s is behind the Classic Load Balancer %s, which cannot split traffic by weight: move it to an "
                "application load balancer target group first" % (name, ", ".join(classic)))
    groups = sorted(set(b["targetGroupArn"] for b in balancers if b.get("targetGroupArn")))
    if len(groups) > 1:
        return ("service %s is registered in %d target groups (%s): adoption needs exactly one - each slot has one "
                "target group; remove the others from the service (or adopt a service with one) first"
                % (name, len(groups), ", ".join(tg_name(g) for g in groups)))
    return None


def refuse_target_group(tg, load_balancer, service_name, wanted_name):
    """Why slot a's target group (the live service's) cannot be adopted behind `load_balancer` (None when it can)."""
    if tg is None:
        return "the target group of service %s was not found" % service_name
    if wanted_name and tg_name(wanted_name) != tg["TargetGroupName"]:
        return ("ecs_validate_slot_names.a.target_group is %s, but service %s is registered in target group %s: name that one"
                % (tg_name(wanted_name), service_name, tg["TargetGroupName"]))
    if tg.get("Protocol") not in ("HTTP", "HTTPS"):
        return ("target group %s (protocol %s) belongs to a network or gateway load balancer, whose listeners cannot "
                "split traffic by weight: adoption needs a service behind an application load balancer"
                % (tg["TargetGroupName"], tg.get("Protocol")))
    if not tg.get("LoadBalancerArns"):
        return ("target group %s of service %s is not used by any load balancer: forward the production listener to "
                "it first" % (tg["TargetGroupName"], service_name))
    if load_balancer is None:
        return "no application load balancer found for target group %s" % tg["TargetGroupName"]
    if load_balancer.get("Type", "application") != "application":
        return ("load balancer %s is a %s load balancer: adoption needs an application load balancer (weighted forward)"
                % (load_balancer["LoadBalancerName"], load_balancer.get("Type")))
    if load_balancer["LoadBalancerArn"] not in tg["LoadBalancerArns"]:
        behind = ", ".join(arns.load_balancer_name(a) for a in tg["LoadBalancerArns"])
        return ("target group %s of service %s is not behind load balancer %s (it is behind %s): name the load "
                "balancer that serves the service" % (tg["TargetGroupName"], service_name, load_balancer["LoadBalancerName"], behind))
    return None


def target_group_spec(tg, attributes, tags, name):
    """community.aws.elb_target_group options creating slot b's target group as a copy of slot a's `tg`."""
    attributes = dict((a["Key"], a["Value"]) for a in attributes) if isinstance(attributes, list) else dict(attributes or {})
    spec = dict(
        name=name, protocol=tg["Protocol"], port=tg["Port"], vpc_id=tg["VpcId"], target_type=tg.get("TargetType", "ip"),
        health_check_protocol=tg.get("HealthCheckProtocol"), health_check_port=tg.get("HealthCheckPort"),
        health_check_path=tg.get("HealthCheckPath"), health_check_interval=tg.get("HealthCheckIntervalSeconds"),
        health_check_timeout=tg.get("HealthCheckTimeoutSeconds"), healthy_threshold_count=tg.get("HealthyThresholdCount"),
        unhealthy_threshold_count=tg.get("UnhealthyThresholdCount"),
        successful_response_codes=(tg.get("Matcher") or {}).get("HttpCode"),
        protocol_version=tg.get("ProtocolVersion"), tags=tags_dict(tags),
    )
    if "deregistration_delay.timeout_seconds" in attributes:
        spec["deregistration_delay_timeout"] = int(attributes["deregistration_delay.timeout_seconds"])
    if attributes.get("load_balancing.algorithm.type"):
        spec["load_balancing_algorithm_type"] = attributes["load_balancing.algorithm.type"]
    if attributes.get("stickiness.enabled") == "true":
        spec["stickiness_enabled"] = True
        spec["stickiness_type"] = attributes.get("stickiness.type")
        if attributes.get("stickiness.type") == "app_cookie":
            spec["stickiness_app_cookie_name"] = attributes.get("stickiness.app_cookie.cookie_name")
            spec["stickiness_app_cookie_duration"] = int(attributes.get("stickiness.app_cookie.duration_seconds") or 86400)
        else:
            spec["stickiness_lb_cookie_duration"] = int(attributes.get("stickiness.lb_cookie.duration_seconds") or 86400)
    return dict((k, v) for k, v in spec.items() if v is not None)


def registry_spec(registry):
    """A service registry entry as community.aws.ecs_service takes it."""
    return dict((k, registry[k]) for k in ("registryArn", "containerName", "containerPort", "port") if k in registry)


def service_spec(live, name, cluster):
    """community.aws.ecs_service options creating slot b's service from the live service `live`, at desired count 0.

    The load balancer entry lacks its targetGroupArn: slot b's target group may not exist yet, the role adds it.
    """
    balancer = dict(live["loadBalancers"][0])
    taskdef = live["taskDefinition"]
    family_revision = arns.last_segment(taskdef)
    deployment = dict(live.get("deploymentConfiguration") or {})
    spec = dict(
        name=name, cluster=cluster, task_definition=family_revision, desired_count=0, state="present",
        load_balancers=[dict(containerName=balancer.get("containerName"), containerPort=balancer.get("containerPort"))],
        deployment_controller=dict(type="ECS"),
        # The idle slot is deployed by the flow, which watches the rollout and rolls back itself: the circuit
        # breaker stops a release whose tasks never start; ECS's own rollback would put the old revision back on
        # the candidate behind the flow's back.
        deployment_configuration=dict(
            maximum_percent=deployment.get("maximumPercent", 200),
            minimum_healthy_percent=deployment.get("minimumHealthyPercent", 100),
            deployment_circuit_breaker=dict(enable=True, rollback=False)),
        health_check_grace_period_seconds=live.get("healthCheckGracePeriodSeconds"),
        placement_constraints=live.get("placementConstraints") or [],
        placement_strategy=live.get("placementStrategy") or [],
        scheduling_strategy=live.get("schedulingStrategy"),
        propagate_tags=live.get("propagateTags") if live.get("propagateTags") not in (None, "NONE") else None,
        enable_execute_command=live.get("enableExecuteCommand"),
        tags=tags_dict(live.get("tags")),
        service_registries=[registry_spec(r) for r in live.get("serviceRegistries") or []],
    )
    vpc = (live.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if vpc:
        spec["network_configuration"] = dict(subnets=vpc.get("subnets") or [], security_groups=vpc.get("securityGroups") or [],
                                             assign_public_ip=vpc.get("assignPublicIp") == "ENABLED")
    if live.get("capacityProviderStrategy"):
        spec["capacity_provider_strategy"] = [dict(capacity_provider=c["capacityProvider"], weight=c.get("weight", 0),
                                                   base=c.get("base", 0)) for c in live["capacityProviderStrategy"]]
    elif live.get("launchType"):
        spec["launch_type"] = live["launchType"]
    if live.get("platformVersion") and live.get("platformVersion") != "LATEST":
        spec["platform_version"] = live["platformVersion"]
    return dict((k, v) for k, v in spec.items() if v is not None)


def _test_route_state(test, tg_b_arn, tg_b_name):
    """(state, refusal) of the asked test route: 'missing', 'done' (forwards to slot b alone), or a refusal."""
    existing = test.get("existing")
    if existing is None:
        return "missing", None
    where = ("port %s" % test["port"]) if test.get("port") else ("priority %s on the production listener" % test["priority"])
    dummy, weights = forward_of(existing.get("Actions") or existing.get("DefaultActions"))
    targets = [arn for arn, w in weights.items() if w > 0]
    if len(targets) == 1 and (targets[0] == tg_b_arn or tg_name(targets[0]) == tg_b_name):
        if test.get("header") and not header_matches(existing, test["header"]):
            return None, ("the rule at %s forwards to %s but matches other conditions than header %s: %s; choose another "
                          "ecs_adopt_test_rule_priority" % (where, tg_b_name, test["header"]["name"], test["header"]["values"]))
        return "done", None
    return None, ("%s is taken: it forwards to %s, not to slot b's target group %s alone; choose another %s"
                  % (where, ", ".join(tg_name(t) for t in weights) or "nothing",
                     tg_b_name, "ecs_adopt_test_listener_port" if test.get("port") else "ecs_adopt_test_rule_priority"))


def header_matches(rule, header):
    for condition in rule.get("Conditions") or []:
        config = condition.get("HttpHeaderConfig") or {}
        if (condition.get("Field") == "http-header" and (config.get("HttpHeaderName") or "").lower() == header["name"].lower()
                and sorted(config.get("Values") or []) == sorted(header["values"])):
            return True
    return False


def plan_present(cluster, slots, services, live_tg, live_tg_attributes, live_tg_tags, tg_b, load_balancer,
                 forward_actions, where, test=None):
    """The adoption plan, or its refusal.

    services: {slot: describe_services entry or None}; live_tg: describe_target_groups entry of the live
    service's target group; tg_b: slot b's target group when it exists; forward_actions: the production
    listener's default actions (or the given rule's actions), `where` naming them for messages; test: None,
    or {port, protocol, existing listener or None} / {priority, header: {name, values}, existing rule or None}.
    Returns {refusal, changes (lines), target_group, listener, service, test_route, before, after}.
    """
    plan = dict(refusal=None, changes=[], target_group=None, listener=None, service=None, test_route=None)
    a, b = slots["a"], slots["b"]
    why = refuse_live_service(services.get("a"), a["service"], cluster)
    if why is None:
        why = refuse_target_group(live_tg, load_balancer, a["service"], a.get("target_group"))
    if why:
        return dict(plan, refusal=why)
    tg_a_arn = live_tg["TargetGroupArn"]
    tg_b_name = tg_name(b["target_group"])
    index, weights = forward_of(forward_actions)
    if index is None:
        return dict(plan, refusal="%s does not forward (its actions: %s): name the listener rule that forwards to %s with "
                                  "ecs_adopt_rule_priority" % (where, [x.get("Type") for x in forward_actions or []],
                                                               live_tg["TargetGroupName"]))
    if tg_a_arn not in weights:
        return dict(plan, refusal="%s forwards to %s, not to %s of service %s: name the listener (or rule) that serves the "
                                  "service" % (where, ", ".join(tg_name(t) for t in weights) or "nothing",
                                               live_tg["TargetGroupName"], a["service"]))
    tg_b_arn = tg_b["TargetGroupArn"] if tg_b else None
    others = [t for t in weights if t not in (tg_a_arn, tg_b_arn)]
    if others:
        return dict(plan, refusal="%s forwards to %s besides %s: adoption needs a forward to the service's target group "
                                  "alone (or to the two slots)" % (where, ", ".join(tg_name(t) for t in others),
                                                                   live_tg["TargetGroupName"]))
    if tg_b is not None:
        for key in ("VpcId", "Protocol", "Port", "TargetType"):
            if tg_b.get(key) != live_tg.get(key):
                return dict(plan, refusal="target group %s exists with %s %s, slot a's %s has %s: name another "
                                          "ecs_validate_slot_names.b.target_group or delete it"
                                          % (tg_b_name, key, tg_b.get(key), live_tg["TargetGroupName"], live_tg.get(key)))
        foreign = [lb for lb in tg_b.get("LoadBalancerArns") or [] if lb != load_balancer["LoadBalancerArn"]]
        if foreign:
            return dict(plan, refusal="target group %s is used by another load balancer (%s): name another "
                                      "ecs_validate_slot_names.b.target_group" % (tg_b_name, ", ".join(foreign)))
    service_b = services.get("b")
    if _active(service_b):
        balancers = service_b.get("loadBalancers") or []
        registered = [tg_name(x.get("targetGroupArn")) for x in balancers]
        if registered != [tg_b_name]:
            return dict(plan, refusal="service %s exists but is not registered in %s alone (it has %s): name another "
                                      "ecs_validate_slot_names.b.service" % (b["service"], tg_b_name, registered))

    running = services["a"].get("runningCount", 0)
    plan["changes"].append("slot a: service %s and target group %s as they are (%d tasks keep running, nothing restarts)"
                           % (a["service"], live_tg["TargetGroupName"], running))
    if tg_b is None:
        plan["target_group"] = target_group_spec(live_tg, live_tg_attributes, live_tg_tags, tg_b_name)
        hc = plan["target_group"]
        plan["changes"].append("create target group %s as a copy of %s (%s:%s, health check %s %s every %ss)"
                               % (tg_b_name, live_tg["TargetGroupName"], hc["protocol"], hc["port"],
                                  hc.get("health_check_protocol"), hc.get("health_check_path", ""), hc.get("health_check_interval")))
    if tg_b_arn is None or tg_b_arn not in weights:
        plan["listener"] = dict(weights={tg_a_arn: 100, tg_b_name: 0}, stickiness_duration=stickiness_of(forward_actions))
        plan["changes"].append("%s: forward to %s becomes a weighted forward %s 100 / %s 0 (the same traffic)"
                               % (where, live_tg["TargetGroupName"], live_tg["TargetGroupName"], tg_b_name))
    if not _active(service_b):
        plan["service"] = service_spec(services["a"], b["service"], cluster)
        plan["changes"].append("create service %s from %s: task definition %s, desired count 0, on target group %s"
                               % (b["service"], a["service"], plan["service"]["task_definition"], tg_b_name))
    if test:
        state, why = _test_route_state(test, tg_b_arn, tg_b_name)
        if why:
            return dict(plan, refusal=why, changes=[])
        if state == "missing":
            plan["test_route"] = dict(test, target_group=tg_b_name)
            plan["test_route"].pop("existing", None)
            plan["changes"].append(("create test listener :%s forwarding to %s" % (test["port"], tg_b_name)) if test.get("port")
                                   else ("create rule priority %s on the production listener: header %s %s -> %s"
                                         % (test["priority"], test["header"]["name"], test["header"]["values"], tg_b_name)))
    plan["before"] = dict(slot_a=dict(service=a["service"], target_group=live_tg["TargetGroupName"]),
                          slot_b=dict(service=b["service"] if _active(service_b) else None,
                                      target_group=tg_b_name if tg_b else None),
                          forward=dict((tg_name(t), w) for t, w in weights.items()))
    plan["after"] = dict(slot_a=plan["before"]["slot_a"], slot_b=dict(service=b["service"], target_group=tg_b_name),
                         forward=dict((tg_name(t), w) for t, w in weights.items()) if plan["listener"] is None
                         else {live_tg["TargetGroupName"]: 100, tg_b_name: 0})
    return plan


def plan_absent(slots, services, target_groups, forward_actions, where, lock=None, test=None):
    """The fold-back plan (one service again), or its refusal.

    target_groups: {slot: describe_target_groups entry or None}; lock: the deployment lock's record ({} or None
    when free); test: as plan_present's (its `existing` is what would be deleted).
    Returns {refusal, keep, remove, changes, test_route, listener, service, target_group}.
    """
    plan = dict(refusal=None, changes=[], keep=None, remove=None, test_route=None, listener=None, service=None,
                target_group=None)
    if lock:
        return dict(plan, refusal="deployment lock is held by execution %s (deploying %s): let it finish or run "
                                  "ecs_rollback.yml, then fold back" % (lock.get("execution_id"), lock.get("digest")))
    dummy, weights = forward_of(forward_actions)
    tg_arns = dict((s, (target_groups.get(s) or {}).get("TargetGroupArn")) for s in SLOTS)
    carrying = [s for s in SLOTS if tg_arns[s] and weights.get(tg_arns[s], 0) > 0]
    if len(carrying) > 1:
        return dict(plan, refusal="%s splits traffic %s: a deployment is in flight; finish it or run ecs_rollback.yml, "
                                  "then fold back" % (where, dict((tg_name(t), w) for t, w in weights.items())))
    if not carrying:
        return dict(plan, refusal="%s forwards to neither slot's target group (%s): nothing to fold back"
                                  % (where, ", ".join(tg_name(t) for t in weights) or "nothing"))
    keep = carrying[0]
    remove = "b" if keep == "a" else "a"
    plan.update(keep=keep, remove=remove)
    others = [t for t in weights if t not in tg_arns.values()]
    if others:
        return dict(plan, refusal="%s also forwards to %s: fold back by hand" % (where, ", ".join(tg_name(t) for t in others)))
    if test and test.get("existing"):
        plan["test_route"] = dict(test)
        plan["changes"].append("delete the test route (%s)" % (("listener :%s" % test["port"]) if test.get("port")
                                                               else "rule priority %s" % test["priority"]))
    if tg_arns[remove] and tg_arns[remove] in weights:
        plan["listener"] = dict(weights={tg_arns[keep]: 100}, stickiness_duration=stickiness_of(forward_actions))
        plan["changes"].append("%s: weighted forward becomes a forward to %s alone (it has all the traffic already)"
                               % (where, tg_name(tg_arns[keep])))
    gone = services.get(remove)
    if _active(gone):
        plan["service"] = dict(name=slots[remove]["service"], running=gone.get("runningCount", 0),
                               desired=gone.get("desiredCount", 0))
        plan["changes"].append("delete service %s of idle slot %s (%d tasks, no traffic)"
                               % (slots[remove]["service"], remove, gone.get("runningCount", 0)))
    if tg_arns[remove]:
        plan["target_group"] = dict(name=target_groups[remove]["TargetGroupName"], arn=tg_arns[remove])
        plan["changes"].append("delete target group %s" % target_groups[remove]["TargetGroupName"])
    if plan["changes"]:
        plan["changes"].insert(0, "keep slot %s: service %s on %s with all the traffic"
                               % (keep, slots[keep]["service"], tg_name(tg_arns[keep])))
    return plan
