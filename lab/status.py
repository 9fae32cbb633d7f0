"""`python -m lab status`: what the lab runs now, read through the AWS API like any user would."""
import json
import sys

import yaml

from lab import config


def _clients():
    from lab.seed import client
    return client("ecs"), client("elbv2")


def collect():
    ecs, elbv2 = _clients()
    out = {"endpoint": config.AWS_ENDPOINT, "services": [], "listeners": [], "target_groups": []}
    arns = ecs.list_services(cluster=config.CLUSTER)["serviceArns"]
    services = ecs.describe_services(cluster=config.CLUSTER, services=arns)["services"] if arns else []
    tags_by_td = {}
    for svc in sorted(services, key=lambda s: s["serviceName"]):
        td_arn = svc.get("taskDefinition", "")
        if td_arn not in tags_by_td:
            td = ecs.describe_task_definition(taskDefinition=td_arn)["taskDefinition"]
            image = (td.get("containerDefinitions") or [{}])[0].get("image", "")
            tags_by_td[td_arn] = image.rsplit("/", 1)[-1].split(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] \
                else image.rsplit("@", 1)[-1][:19]
        primary = next((d for d in svc.get("deployments", []) if d["status"] == "PRIMARY"), {})
        out["services"].append({
            "name": svc["serviceName"], "running": svc["runningCount"], "desired": svc["desiredCount"],
            "pending": svc["pendingCount"], "revision": td_arn.rsplit("/", 1)[-1], "tag": tags_by_td[td_arn],
            "rollout": primary.get("rolloutState"), "deployments": len(svc.get("deployments", []))})
    lbs = elbv2.describe_load_balancers(Names=[config.ALB_NAME])["LoadBalancers"]
    tg_names = {}
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        tg_names[tg["TargetGroupArn"]] = tg["TargetGroupName"]
        health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        out["target_groups"].append({"name": tg["TargetGroupName"], "targets": [
            {"id": h["Target"]["Id"], "port": h["Target"].get("Port"), "state": h["TargetHealth"]["State"],
             "reason": h["TargetHealth"].get("Reason")} for h in health]})
    for lb in lbs:
        for listener in sorted(elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"],
                               key=lambda x: x["Port"]):
            weights = []
            for action in listener.get("DefaultActions", []):
                groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
                if groups:
                    weights += [(tg_names.get(g["TargetGroupArn"], g["TargetGroupArn"]), g.get("Weight", 1))
                                for g in groups]
                elif action.get("TargetGroupArn"):
                    weights.append((tg_names.get(action["TargetGroupArn"], action["TargetGroupArn"]), 1))
            local = config.LISTENER_LOCAL_PORTS.get(listener["Port"])
            scheme = "https" if listener.get("Protocol") == "HTTPS" else "http"
            out["listeners"].append({"port": listener["Port"],
                                     "url": "%s://127.0.0.1:%d" % (scheme, local) if local else None,
                                     "weights": weights})
    with open(config.CATALOGUE_FILE) as f:
        out["catalogue"] = yaml.safe_load(f)["images"]
    return out


def format_status(st):
    lines = ["lab AWS endpoint: %s (region %s)" % (st["endpoint"], config.REGION), "", "ECS services (%s):"
             % config.CLUSTER]
    for s in st["services"]:
        lines.append("  %-10s %d/%d running (%d pending)  %-10s tag %-18s rollout %s%s" % (
            s["name"], s["running"], s["desired"], s["pending"], s["revision"], s["tag"], s["rollout"],
            "  (%d deployments)" % s["deployments"] if s["deployments"] > 1 else ""))
    lines += ["", "Listeners (%s):" % config.ALB_NAME]
    for listener in st["listeners"]:
        lines.append("  :%-5d %-24s %s" % (listener["port"], listener["url"] or "-",
                                          "  ".join("%s=%s" % w for w in listener["weights"])))
    lines += ["", "Target health:"]
    for tg in st["target_groups"]:
        states = {}
        for t in tg["targets"]:
            states[t["state"]] = states.get(t["state"], 0) + 1
        lines.append("  %-10s %s" % (tg["name"], ", ".join("%d %s" % (n, s) for s, n in sorted(states.items()))
                                     or "no targets"))
        for t in tg["targets"]:
            lines.append("      %s:%s %s%s" % (t["id"], t["port"], t["state"],
                                             " (%s)" % t["reason"] if t["reason"] else ""))
    lines += ["", "Image catalogue (ECR %s):" % config.APP,
              "  %-18s %-7s %-10s %-7s %-22s %s" % ("tag", "5xx", "+latency", "health", "findings", "description")]
    for tag, e in st["catalogue"].items():
        findings = ", ".join("%s %s" % (k, v) for k, v in (e.get("findings") or {}).items()) or "none"
        lines.append("  %-18s %-7s %-10s %-7s %-22s %s" % (
            tag, "%g%%" % (100 * e.get("error_rate", 0)), "%d ms" % e.get("extra_latency_ms", 0),
            e.get("health", "ok"), findings, e.get("description", "")))
    return "\n".join(lines) + "\n"


def main(json_output=False):
    from lab.__main__ import lab_api
    daemon = lab_api("status")
    if not daemon:
        print("lab is not up (nothing answers on %s); run `make lab-up`" % config.AWS_ENDPOINT)
        return 1
    st = collect()
    st["daemon"] = {k: daemon.get(k) for k in ("pid", "ready", "alb", "started")}
    if json_output:
        sys.stdout.write(json.dumps(st, indent=2, default=str) + "\n")
    else:
        sys.stdout.write("lab daemon pid %s, %s\n" % (daemon.get("pid"), "ready" if daemon.get("ready")
                                                       else "not ready yet"))
        sys.stdout.write(format_status(st))
    return 0
