"""Scale (issue 8 item 4): N ECS services deployed in one run in parallel; VM rolling on growing fleets.

ECS: the lab seeds one app (myapp). For N apps the script creates `bench01`..`benchNN` through the lab's AWS API
beside it, each as the seed's app is built (target groups <app>-a / -b with the seed's health check, ALB <app>-alb with
a production listener 100/0 and a test listener to the idle slot, task definition family <app> cloned from myapp:1,
services <app>-a at --desired tasks and <app>-b at 0), sharing the seed's VPC, roles, secrets and ECR repository
`myapp` (ecs_validate_ecr_repository / container name). The lab's task runner and target health checker pick the new
services up by themselves; its ALB data plane serves only myapp-alb, so this script runs one lab AlbDataPlane per
app for its test listener (the smoke test's target; production traffic is not needed here). Then ONE
`ansible-playbook playbooks/ecs_blue_green.yml` run deploys v1.2.3 to all N: an inventory group with one host per app
(connection local, `deploy_controller` = that group, forks = N), every watch and the hold at 0 (as overhead.py).
Reported per N: total wall time, hosts ok, the AWS API calls of the run (total and per app), load average.
Each N has its own apps; they stay in the lab (at rest, on v1.2.3) until its next reset.

VM: a fresh fleet of H namespace hosts (lab/vmhosts.py VmFleet on this lab's bridge, v1.2.2), then one
`playbooks/vm_rolling.yml` run to v1.2.3 per batch size (--serial, default 5 and 10), forks = --vm-forks.
Reported: wall time per (hosts, batch size), fleet creation time, memory used by the fleet.

    python bench/scale.py [--services 1,5,20] [--desired 1] [--hosts 5,20,50] [--serial 5,10] [--quick]
                          [--skip-ecs] [--skip-vm] [--keep-lab] [--update-readme]
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labbench  # noqa: E402
from labbench import config  # noqa: E402
from overhead import ZERO_WATCH  # noqa: E402

# The bench's apps are not the seed's: the lab deployer's scoped policy names only myapp (the IAM preflight would
# refuse them, as it should), and the lab's Fargate vCPU quota (6) is sized for the seed. Both checks stay on in
# every other benchmark and test.
BENCH_APPS = {"ecs_validate_iam_preflight": False, "ecs_validate_check_capacity": False}

MAX_SERVICES = 40
VM_PLAYBOOK = labbench.ROOT / "playbooks" / "vm_rolling.yml"
GROUP = "bench_apps"


def app_names(n, tag):
    """Names of the apps of the N-service measurement of one invocation (tag), e.g. t123n05x01..t123n05x05: each
    measurement has apps of its own, so no lab reset is needed (a reset would also take the VM hosts' target group
    away from a VM run on the same lab)."""
    return ["%sn%02dx%02d" % (tag, n, i) for i in range(1, n + 1)]


def create_apps(lab, names, desired):
    """The seed's app layout once per name, through the API (see the module docstring)."""
    from lab import seed
    ecs, elbv2 = lab.client("ecs"), lab.client("elbv2")
    seeded = ecs.describe_services(cluster=config.CLUSTER, services=["%s-a" % config.APP])["services"][0]
    network = seeded["networkConfiguration"]
    subnets = network["awsvpcConfiguration"]["subnets"]
    vpc = lab.client("ec2").describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    alb_sg = elbv2.describe_load_balancers(Names=[config.ALB_NAME])["LoadBalancers"][0]["SecurityGroups"]
    td = ecs.describe_task_definition(taskDefinition="%s:1" % config.APP)["taskDefinition"]
    keep = ("containerDefinitions", "requiresCompatibilities", "networkMode", "cpu", "memory", "taskRoleArn",
            "executionRoleArn")
    for app in names:
        revision = ecs.register_task_definition(family=app, **{k: td[k] for k in keep if k in td},
                                                tags=[{"key": "app", "value": app}])["taskDefinition"]
        tgs = {}
        for slot in config.SLOTS:
            tg = elbv2.create_target_group(Name="%s-%s" % (app, slot), Protocol="HTTP", Port=config.CONTAINER_PORT,
                                           VpcId=vpc, TargetType="ip", HealthCheckProtocol="HTTP",
                                           Matcher={"HttpCode": "200"}, **seed.HEALTH_CHECK,
                                           Tags=[{"Key": "app", "Value": app}, {"Key": "slot", "Value": slot}])
            tgs[slot] = tg["TargetGroups"][0]["TargetGroupArn"]
            elbv2.modify_target_group_attributes(TargetGroupArn=tgs[slot], Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(seed.DEREGISTRATION_DELAY_S)}])
        lb = elbv2.create_load_balancer(Name="%s-alb" % app, Subnets=subnets, SecurityGroups=alb_sg,
                                        Scheme="internet-facing", Type="application")["LoadBalancers"][0]
        sticky = {"Enabled": False}
        elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=config.PROD_LISTENER_PORT,
                              DefaultActions=[{"Type": "forward", "ForwardConfig": {
                                  "TargetGroups": [{"TargetGroupArn": tgs["a"], "Weight": 100},
                                                   {"TargetGroupArn": tgs["b"], "Weight": 0}],
                                  "TargetGroupStickinessConfig": sticky}}])
        elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=config.TEST_LISTENER_PORT,
                              DefaultActions=[{"Type": "forward", "ForwardConfig": {
                                  "TargetGroups": [{"TargetGroupArn": tgs["b"], "Weight": 100}],
                                  "TargetGroupStickinessConfig": sticky}}])
        for slot in config.SLOTS:
            ecs.create_service(
                cluster=config.CLUSTER, serviceName="%s-%s" % (app, slot), taskDefinition=revision["taskDefinitionArn"],
                desiredCount=desired if slot == "a" else 0, launchType="FARGATE", networkConfiguration=network,
                loadBalancers=[{"targetGroupArn": tgs[slot], "containerName": config.CONTAINER_NAME,
                                "containerPort": config.CONTAINER_PORT}],
                deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                         "deploymentCircuitBreaker": {"enable": True, "rollback": False}},
                healthCheckGracePeriodSeconds=0, propagateTags="SERVICE",
                tags=[{"key": "app", "value": app}, {"key": "slot", "value": slot}])


def wait_live_healthy(lab, names, desired, timeout=300.0):
    """Seconds until every app's live target group has `desired` healthy targets; None on timeout."""
    elbv2 = lab.client("elbv2")
    arns = {app: elbv2.describe_target_groups(Names=["%s-a" % app])["TargetGroups"][0]["TargetGroupArn"] for app in names}
    started = time.time()
    pending = set(names)
    while pending and time.time() - started < timeout:
        for app in sorted(pending):
            health = elbv2.describe_target_health(TargetGroupArn=arns[app])["TargetHealthDescriptions"]
            if sum(t["TargetHealth"]["State"] == "healthy" for t in health) >= desired:
                pending.discard(app)
        if pending:
            time.sleep(1.0)
    return None if pending else round(time.time() - started, 1)


def start_test_listeners(lab, names, refresh_s):
    """One lab ALB data plane per app serving its test listener on a free port: {app: url}, [planes]."""
    from harness import free_port
    from lab.alb import AlbDataPlane
    planes, urls = [], {}
    for app in names:
        port = free_port()
        plane = AlbDataPlane(endpoint=lab.endpoint, alb_name="%s-alb" % app,
                             listener_ports={config.TEST_LISTENER_PORT: port}, publish=False)
        plane.refresh_s = refresh_s   # the constructor caps it at 1 s; 20 planes at 1 s load the API with ~100 calls/s
        plane.start()
        planes.append(plane)
        urls[app] = "http://127.0.0.1:%d" % port
    return urls, planes


def ecs_one(lab, n, desired, refresh_s, workdir):
    names = app_names(n, "t%03d" % (os.getpid() % 1000))
    t0 = time.time()
    create_apps(lab, names, desired)
    ready = wait_live_healthy(lab, names, desired)
    setup_s = round(time.time() - t0, 1)
    if ready is None:
        return {"services": n, "error": "live services of the bench apps not healthy within 300 s", "setup_s": setup_s}
    urls, planes = start_test_listeners(lab, names, refresh_s)
    inventory = Path(workdir) / ("apps-%d.yml" % n)
    inventory.write_text(yaml.safe_dump({"all": {"children": {GROUP: {
        "hosts": {app: {"ecs_validate_app": app, "ecs_green_deploy_smoke_base_url": urls[app]} for app in names},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "ecs_validate_ecr_repository": config.APP, "ecs_validate_container_name": config.CONTAINER_NAME}}}}}))
    try:
        offset = lab.api_log_offset()
        load_before = labbench.load()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_before = machine_busy_s()
        started = time.time()
        key = "pdbenchscale%d%d" % (os.getpid(), n)
        result = labbench.run_playbook(
            labbench.ECS_PLAYBOOK, inventory=labbench.INVENTORY, timeout=1800,
            args=("-i", str(inventory), "--forks", str(max(n, 5))),
            extra_vars=dict(aws_endpoint_url=lab.endpoint, deploy_controller=GROUP, ecs_validate_image_tag="v1.2.3",
                            **labbench.run_vars(key), **ZERO_WATCH, **BENCH_APPS))
        wall = time.time() - started
        load_after = labbench.load()
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy_after = machine_busy_s()
    finally:
        for plane in planes:
            plane.stop(timeout=3)
    time.sleep(0.5)
    calls, total = labbench.count_calls(lab.api_calls(offset, started, started + wall, key=key))
    stats = result.stats
    ok = [h for h in names if stats.get(h, {}).get("failures", 1) == 0 and stats.get(h, {}).get("unreachable", 1) == 0]
    weights_ok = sum(lab.prod_weights(app=app).get("b") == 100 for app in names)
    timings = labbench.task_timings(result)
    waits = {}
    for name, host, start, end, _res in timings:
        if "Wait for the candidate" in name and start and end:
            waits[host] = end - start
    return {"services": n, "desired": desired, "rc": result.rc, "wall_s": round(wall, 1), "hosts_ok": len(ok),
            "apps_at_100_on_candidate": weights_ok, "setup_s": setup_s, "live_ready_s": ready,
            "load_average_before": load_before, "load_average_after": load_after,
            "api_calls_total": total, "api_calls_per_service": round(total / n, 1), "api_calls": calls,
            # ansible-playbook with its workers and module processes (connection local: all of them its children),
            # and the whole machine (the lab standing in for AWS, the data planes, anything else running).
            "cpu_s_ansible": round(cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 1),
            "cpu_s_machine": round(busy_after - busy_before, 1),
            "rollout_wait_s_max": round(max(waits.values()), 1) if waits else None,
            "rollout_wait_s_median": round(sorted(waits.values())[len(waits) // 2], 1) if waits else None,
            "failures": result.failures()[:5]}


def machine_busy_s():
    """CPU-seconds the whole machine has been busy (user, nice, system, irq, softirq) since boot, from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / float(os.sysconf("SC_CLK_TCK"))


def fleet_memory_mb(fleet):
    """RSS of every process in the fleet's namespaces, in MB."""
    import subprocess
    total = 0
    for name in fleet.existing():
        out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10).stdout
        for pid in out.split():
            try:
                with open("/proc/%s/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                continue
    return round(total / 1024.0, 1)


def batch_sizes(hosts, serial):
    """The batches ansible-playbook cuts `hosts` hosts into for `serial` (a count, or a percentage: its pct_to_int)."""
    from ansible.utils.helpers import pct_to_int
    size = min(pct_to_int(str(serial).strip(), hosts), hosts) or hosts
    return [min(size, hosts - i) for i in range(0, hosts, size)]


def row_batches(row):
    """A VM row's batches (rows of older JSON carry none: cut them again)."""
    return row.get("batches") or batch_sizes(row["hosts"], row["serial"])


def vm_one(lab, fleet, hosts, serial, forks):
    t0 = time.time()
    fleet.create(hosts)
    create_s = round(time.time() - t0, 1)
    mem = fleet_memory_mb(fleet)
    load_before = labbench.load()
    started = time.time()
    result = labbench.run_playbook(VM_PLAYBOOK, inventory=labbench.INVENTORY, timeout=3600,
                                   args=("-i", str(fleet.inventory), "--forks", str(forks)),
                                   extra_vars={"aws_endpoint_url": lab.endpoint, "vm_deploy_version": "v1.2.3",
                                               "vm_rolling_serial": serial})
    wall = time.time() - started
    stats = result.stats
    task_s, seen = {}, set()
    for name, _host, start, end, _res in labbench.task_timings(result):
        if start and end and (name, start) not in seen:  # one row per host; a task's time counts once
            seen.add((name, start))
            task_s[name] = task_s.get(name, 0.0) + (end - start)
    slowest = sorted(task_s.items(), key=lambda kv: -kv[1])[:8]
    ok = sum(1 for h, s in stats.items() if h != "localhost" and s.get("failures", 1) == 0
             and s.get("unreachable", 1) == 0)
    batches = batch_sizes(hosts, serial)
    return {"hosts": hosts, "serial": serial, "forks": forks, "rc": result.rc, "wall_s": round(wall, 1),
            "batches": batches, "per_batch_s": round(wall / len(batches), 1),
            "per_host_s": round(wall / hosts, 2), "hosts_ok": ok, "fleet_create_s": create_s, "fleet_rss_mb": mem,
            "load_average_before": load_before, "load_average_after": labbench.load(),
            "slowest_tasks_s": [[name, round(sec, 1)] for name, sec in slowest],
            "failures": result.failures()[:5]}


def render_markdown(doc):
    meta = doc["meta"]
    out = ["Run %s on %s (%s cores, %s MB); load average %s at the start, %s at the end (figures at load are upper "
           "bounds)." % (meta["date"], meta["machine"]["cpu"], meta["machine"]["nproc"], meta["machine"]["mem_mb"],
                         meta["load_start"], meta["load_end"])]
    if doc["ecs"]:
        out += ["", "ECS%s, one run deploying v1.2.3 to N services in parallel (forks = N, watches and hold 0, %s live "
                "task(s) per service):" % (" (measured %s)" % meta["ecs_from"] if meta.get("ecs_from") else "",
                                       meta["desired"]), "",
                "| services | rc | hosts ok | at 100 % on the candidate | wall time | rollout wait (median / max) | "
                "API calls (per service) | CPU-s ansible / machine (per service) | load before / after |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in doc["ecs"]:
            if "error" in r:
                out.append("| %d | - | - | - | %s | | | | |" % (r["services"], r["error"]))
                continue
            cpu = ("%.0f / %.0f (%.1f / %.1f)" % (r["cpu_s_ansible"], r["cpu_s_machine"], r["cpu_s_ansible"] / r["services"],
                                                  r["cpu_s_machine"] / r["services"]) if "cpu_s_ansible" in r else "-")
            out.append("| %d | %d | %d | %d | %.1f s | %s / %s s | %d (%.1f) | %s | %.2f / %.2f |"
                       % (r["services"], r["rc"], r["hosts_ok"], r["apps_at_100_on_candidate"], r["wall_s"],
                          r["rollout_wait_s_median"], r["rollout_wait_s_max"], r["api_calls_total"],
                          r["api_calls_per_service"], cpu, r["load_average_before"][0], r["load_average_after"][0]))
    if doc["vm"]:
        out += ["", "VM rolling v1.2.2 → v1.2.3 over SSH%s (forks %s):"
                % (" (measured %s)" % meta["vm_from"] if meta.get("vm_from") else "",
                   doc["vm"][0].get("forks", meta["vm_forks"])), "",
                "| hosts | batch | batches | rc | hosts ok | wall time | per batch | per host | fleet creation | fleet RSS | "
                "load before |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in doc["vm"]:
            if "error" in r:
                out.append("| %d | %s | %s | - | - | %s | | | | | |"
                           % (r["hosts"], r["serial"], len(row_batches(r)), r["error"]))
                continue
            batches = row_batches(r)
            out.append("| %d | %s | %d | %d | %d | %.1f s | %.1f s | %.2f s | %.1f s | %.0f MB | %.2f |"
                       % (r["hosts"], r["serial"], len(batches), r["rc"], r["hosts_ok"], r["wall_s"],
                          r["wall_s"] / len(batches), r["per_host_s"], r["fleet_create_s"], r["fleet_rss_mb"],
                          r["load_average_before"][0]))
    out += [""] + reading(doc)
    return "\n".join(out)


def reading(doc):
    """One sentence per part against issue 8 item 4 (N services in one run; time against hosts per batch size)."""
    lines = []
    ecs = [r for r in doc["ecs"] if "error" not in r]
    if ecs:
        one = ecs[0]
        parts = ["%d service%s %.0f s (%.1fx the time of %d)" % (r["services"], "s" if r["services"] > 1 else "",
                                                                  r["wall_s"], r["wall_s"] / one["wall_s"],
                                                                  one["services"]) for r in ecs]
        per_service = sorted(set(r["api_calls_per_service"] for r in ecs))
        ok = all(r["rc"] == 0 and r["apps_at_100_on_candidate"] == r["services"] for r in ecs)
        lines.append("- ECS: %s; API calls per service %s; %s." % (
            ", ".join(parts), " / ".join("%g" % x for x in per_service),
            "every service at 100 % on its candidate" if ok else "NOT every service reached 100 % on its candidate"))
    vm = [r for r in doc["vm"] if "error" not in r]
    for serial in sorted(set(r["serial"] for r in vm), key=str):
        rows = sorted((r for r in vm if r["serial"] == serial), key=lambda r: r["hosts"])
        parts = []
        for r in rows:
            n = len(row_batches(r))
            parts.append("%d hosts %.0f s (%d batch%s, %.0f s each)"
                         % (r["hosts"], r["wall_s"], n, "es" if n > 1 else "", r["wall_s"] / n))
        ok = all(r["rc"] == 0 and r["hosts_ok"] == r["hosts"] for r in rows)
        lines.append("- VM at batch size %s: %s; %s." % (serial, ", ".join(parts),
                                                         "every host ok" if ok else "NOT every host ok"))
    return lines


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int_list, default=None, help="ECS service counts (default 1,5,20; --quick 1)")
    p.add_argument("--desired", type=int, default=1, help="live tasks per bench service (default 1)")
    p.add_argument("--alb-refresh", type=float, default=1.0, help="test listener data planes' refresh interval, s")
    p.add_argument("--hosts", type=int_list, default=None, help="VM fleet sizes (default 5,20,50; --quick 5)")
    p.add_argument("--serial", default=None, help="VM batch sizes, comma-separated (default 5,10; --quick 5)")
    p.add_argument("--vm-forks", type=int, default=10, help="ansible forks for the VM runs (default 10)")
    p.add_argument("--quick", action="store_true", help="1 service; 5 hosts in one batch of 5")
    p.add_argument("--skip-ecs", action="store_true")
    p.add_argument("--skip-vm", action="store_true")
    p.add_argument("--keep-lab", action="store_true", help="leave a lab started here running")
    p.add_argument("--update-readme", action="store_true")
    p.add_argument("--out", default=str(labbench.RESULTS / "scale.json"),
                   help="JSON written here; with --skip-ecs / --skip-vm the skipped part is kept from this file")
    args = p.parse_args(argv)
    services = args.services or ([1] if args.quick else [1, 5, 20])
    hosts = args.hosts or ([5] if args.quick else [5, 20, 50])
    serials = [s.strip() for s in (args.serial or ("5" if args.quick else "5,10")).split(",") if s.strip()]
    if any(not 1 <= n <= MAX_SERVICES for n in services) or any(not 1 <= h <= 50 for h in hosts):
        raise SystemExit("--services within 1..%d, --hosts within 1..50" % MAX_SERVICES)
    if not 1 <= args.desired <= 4 or not 1 <= args.vm_forks <= 50:
        raise SystemExit("--desired within 1..4, --vm-forks within 1..50")
    load_start = labbench.load()
    doc = {"ecs": [], "vm": []}
    out = Path(args.out)
    previous = {}
    if (args.skip_ecs or args.skip_vm) and out.exists():
        try:
            previous = json.loads(out.read_text())
        except ValueError:
            previous = {}

    def finish():
        """Meta, carried-over parts, JSON; called after every measurement so an interrupted run keeps its figures."""
        doc["meta"] = {"date": labbench.now_utc(), "machine": labbench.machine(), "load_start": load_start,
                       "load_end": labbench.load(), "desired": args.desired, "vm_forks": args.vm_forks,
                       "alb_refresh_s": args.alb_refresh}
        for part, skipped in (("ecs", args.skip_ecs), ("vm", args.skip_vm)):
            if skipped and previous.get(part):
                doc[part] = previous[part]
                doc["meta"]["%s_from" % part] = previous.get("meta", {}).get("%s_from" % part) or \
                    previous.get("meta", {}).get("date")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1, default=str))
    with labbench.LabSession(keep=args.keep_lab) as lab, tempfile.TemporaryDirectory(prefix="pd-bench-scale-") as work:
        if not args.skip_ecs:
            for n in services:
                r = ecs_one(lab, n, args.desired, args.alb_refresh, work)
                doc["ecs"].append(r)
                finish()
                print("ECS %d services: %s" % (n, {k: v for k, v in r.items() if k != "api_calls"}))
        if not args.skip_vm:
            from lab import vmhosts
            from lab.__main__ import vm_fleet_args
            fleet = vmhosts.VmFleet(**vm_fleet_args())
            try:
                for h in hosts:
                    planned = []
                    for serial in serials:
                        batches = batch_sizes(h, serial)
                        if batches in planned:   # e.g. 5 hosts at 5 and at 10: the same one batch
                            print("VM %d hosts, serial %s: same batches as an earlier run, skipped" % (h, serial))
                            continue
                        planned.append(batches)
                        try:
                            r = vm_one(lab, fleet, h, serial, args.vm_forks)
                        except Exception as e:   # e.g. no root / sshd: say so, keep the other figures
                            r = {"hosts": h, "serial": serial, "error": str(e)[:200]}
                        doc["vm"].append(r)
                        finish()
                        print("VM %d hosts, serial %s: %s" % (h, serial, r))
            finally:
                fleet.destroy()
    finish()
    markdown = render_markdown(doc)
    print("\n" + markdown)
    print("wrote %s" % os.path.relpath(out, os.getcwd()))
    if args.update_readme:
        labbench.update_readme_section("scale", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
