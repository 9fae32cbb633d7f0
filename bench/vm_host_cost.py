"""The VM path's CPU cost per host (issue 16 item 4): controller plus host CPU-seconds of one rolling deployment.

For each variant of the role - "before" (the collection as it is at a git ref, default `main`, unpacked with `git
archive` into a temporary collection tree) and "after" (this checkout) - the script creates a fresh fleet of N lab
namespace hosts on release v1.2.2 (lab/vmhosts.py VmFleet, the lab's bridge, registered in the VM target group),
runs ONE `playbooks/vm_rolling.yml` to v1.2.3 at batch size --serial, then (unless --quick) the same version again
(the no-op rerun: every host "unchanged"). The variants run in turn (before, after, before, after ... for --runs),
on the same lab, so the load of the machine weighs on both alike.

How the CPU is counted, and why this way. The namespace hosts share the controller's kernel and its 2 cores, so
"the host's CPU" is the CPU of the processes their sshd starts: the per-connection sshd, the shell and the Python of
every module run. Those processes are not children of ansible-playbook, so getrusage cannot see them; /proc/stat
deltas of the whole machine would count every other agent on it. A cpuacct cgroup counts exactly a process tree,
including processes started later and those that leave their parent:
  - controller: a cgroup holding the ansible-playbook process (so its forks, the module processes of the
    delegated/local tasks, and the ssh ControlMaster processes that daemonize out of the process tree - the SSH
    encryption of the controller's side). resource.getrusage(RUSAGE_CHILDREN) around the run is reported beside it:
    it misses those ssh masters, which is the difference between the two.
  - hosts: a cgroup into which every host's sshd listener is moved before the run: every session, shell and module
    Python of the run lands in it. The app processes the deploy starts (bin/start, from a session) land there too;
    their start-up is part of a deployment, and their idle time (answering the lab's health checks) is small.
  - not counted: the lab daemon (it stands in for AWS: the ELB API calls and the ALB's health checks).
cgroup v1 (cpuacct.usage) or v2 (cpu.stat usage_usec); needs root, like the VM hosts themselves.

    python bench/vm_host_cost.py [--hosts 4] [--serial 2] [--runs 1] [--ref main] [--no-before] [--quick]
                                 [--forks 5] [--keep-lab] [--update-readme]
Figures printed, JSON in bench/results/vm_host_cost.json.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labbench  # noqa: E402
from labbench import ROOT  # noqa: E402

OLD, NEW = "v1.2.2", "v1.2.3"
MAX_HOSTS = 20


# ---------------------------------------------------------------- CPU accounting

class CpuGroup:
    """A cgroup that counts the CPU time of every process put in it and of all their descendants."""

    def __init__(self, name):
        v1 = Path("/sys/fs/cgroup/cpuacct")
        if (v1 / "cpuacct.usage").exists():
            self.path, self.v2 = v1 / name, False
        else:
            base = Path("/sys/fs/cgroup")
            if not (base / "cgroup.controllers").exists():
                base = Path("/sys/fs/cgroup/unified")
            own = "/"
            try:
                own = [line.split("::", 1)[1].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                       if line.startswith("0::")][0]
            except (OSError, IndexError):
                pass
            self.path, self.v2 = base / own.lstrip("/") / name, True
        self.path.mkdir(exist_ok=True)

    def add(self, pid):
        with open(self.path / "cgroup.procs", "w") as f:
            f.write("%d\n" % pid)

    def usage_s(self):
        if self.v2:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
            raise RuntimeError("no usage_usec in %s/cpu.stat" % self.path)
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def pids(self):
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def remove(self, timeout=10.0):
        """Delete the group (its processes must be gone; whatever is left goes back to the parent group)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                parent = self.path.parent / "cgroup.procs"
                for pid in self.pids():
                    try:
                        parent.write_text("%d\n" % pid)
                    except OSError:
                        pass
                time.sleep(0.1)


def cgroups_available():
    try:
        probe = CpuGroup("pd-bench-probe-%d" % os.getpid())
        probe.usage_s()
        probe.remove()
        return True
    except (OSError, RuntimeError):
        return False


def end_processes(pids, grace_s=5.0):
    """SIGTERM the given processes (ones this run started: the ssh masters left in the controller group)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + grace_s
    while time.time() < deadline and any(Path("/proc/%d" % p).exists() for p in pids):
        time.sleep(0.05)


# ---------------------------------------------------------------- variants

def variant_env(collections_root, checkout, cp_dir):
    return dict(labbench.collection_env(collections_root, checkout), **{
        # This run's own ssh ControlMaster sockets: no master of another run (or agent) is reused or counted.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_JSON_INDENT": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    })


def deploy(lab, fleet, checkout, env, version, serial, forks, groups, workdir):
    """One vm_rolling.yml run; its CPU by cgroup (controller, hosts) and by getrusage, its tasks per host."""
    from harness import AWS_ENV, VENV_BIN
    ctl, hosts_cg = groups
    vars_file = Path(workdir) / ("vars-%s.json" % time.time())
    vars_file.write_text(json.dumps({"aws_endpoint_url": lab.endpoint, "vm_deploy_version": version,
                                     "vm_rolling_serial": serial}))
    cmd = [str(VENV_BIN / "ansible-playbook"), str(checkout / "playbooks" / "vm_rolling.yml"),
           "-i", str(checkout / "inventories" / "lab" / "hosts.yml"), "-i", str(fleet.inventory),
           "-e", "@%s" % vars_file, "--forks", str(forks)]
    full_env = dict(os.environ, **AWS_ENV)
    full_env.update(env)
    full_env["PATH"] = "%s:%s" % (VENV_BIN, os.environ.get("PATH", ""))
    for name in fleet.existing():                        # every session of the run starts in the hosts' group
        pid = fleet._sshd_pid(name)
        if pid:
            hosts_cg.add(pid)
    load_before = labbench.load()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, h0, t0 = ctl.usage_s(), hosts_cg.usage_s(), time.time()
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, preexec_fn=lambda: ctl.add(os.getpid()))
    out, err = proc.communicate(timeout=1800)
    wall = time.time() - t0
    c1, h1 = ctl.usage_s(), hosts_cg.usage_s()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    end_processes(ctl.pids())                            # the ssh masters this run left behind
    start = out.find("{")
    try:
        data = json.loads(out[start:]) if start >= 0 else {}
    except ValueError:
        data = {}
    if os.environ.get("VM_HOST_COST_DUMP"):              # the run's JSON (task timings), for a closer look
        dump = Path(os.environ["VM_HOST_COST_DUMP"])
        dump.mkdir(parents=True, exist_ok=True)
        (dump / ("%s-%s-%d.json" % (Path(str(checkout)).name, version, time.time()))).write_text(out[start:] if start >= 0 else out)
    names = set(fleet.existing())
    per_host = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host in task.get("hosts", {}):
                if host in names:
                    per_host[host] = per_host.get(host, 0) + 1
    failures = [(t["task"]["name"], h, (r.get("msg") or "")[:200]) for p in data.get("plays", [])
                for t in p.get("tasks", []) for h, r in t.get("hosts", {}).items()
                if r.get("failed") or r.get("unreachable")]
    n = len(names)
    controller = c1 - c0
    host = h1 - h0
    rusage = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "hosts": n,
            "controller_cpu_s": round(controller, 2), "controller_rusage_children_s": round(rusage, 2),
            "host_cpu_s": round(host, 2), "cpu_s_per_host": round((controller + host) / n, 2),
            "controller_cpu_s_per_host": round(controller / n, 2), "host_cpu_s_per_host": round(host / n, 2),
            "tasks_per_host": round(sum(per_host.values()) / max(1, len(per_host)), 1),
            "load_before": load_before, "load_after": labbench.load(),
            "failures": failures[:5], "stderr_tail": err[-800:] if proc.returncode else ""}


def one_variant(lab, fleet, label, collections_root, checkout, args, groups, workdir):
    rows = []
    cp_dir = Path(tempfile.mkdtemp(prefix="cp-", dir=workdir))
    env = variant_env(collections_root, checkout, cp_dir)
    fleet.create(args.hosts)
    try:
        for kind, version in [("fresh", NEW)] + ([] if args.quick else [("rerun", NEW)]):
            r = deploy(lab, fleet, checkout, env, version, args.serial, args.forks, groups, workdir)
            r.update({"variant": label, "kind": kind, "serial": args.serial})
            rows.append(r)
            print("%-6s %-5s %s" % (label, kind, {k: v for k, v in r.items() if k not in ("variant", "kind")}),
                  flush=True)
    finally:
        fleet.destroy()
        _, hosts_cg = groups
        end_processes([p for p in hosts_cg.pids()])      # nothing should be left once the fleet is gone
    return rows


# ---------------------------------------------------------------- report

def summarize(rows):
    """Median per (variant, kind) over the runs."""
    out = {}
    for r in rows:
        out.setdefault((r["variant"], r["kind"]), []).append(r)
    summary = []
    for (variant, kind), rs in out.items():
        def med(key):
            vals = sorted(x[key] for x in rs)
            mid = len(vals) // 2
            return vals[mid] if len(vals) % 2 else round((vals[mid - 1] + vals[mid]) / 2.0, 2)
        summary.append({"variant": variant, "kind": kind, "runs": len(rs), "ok": all(x["rc"] == 0 for x in rs),
                        **{k: med(k) for k in ("hosts", "wall_s", "tasks_per_host", "controller_cpu_s_per_host",
                                               "host_cpu_s_per_host", "cpu_s_per_host",
                                               "controller_rusage_children_s")}})
    return summary


def render_markdown(doc):
    meta = doc["meta"]
    out = ["Run %s on %s (%s cores); `uptime` load average %s at the start, %s at the end (2 cores shared with "
           "other work: figures at load are upper bounds). %d hosts, batch size %s, forks %d; v%s -> %s fresh, then "
           "the same version again (rerun). CPU by cgroup (controller: ansible-playbook and its ssh masters; hosts: "
           "everything their sshd started); the lab daemon is not counted."
           % (meta["date"], meta["machine"]["cpu"], meta["machine"]["nproc"], meta["load_start"], meta["load_end"],
              meta["hosts"], meta["serial"], meta["forks"], OLD[1:], NEW), "",
           "| role | run | tasks/host | wall s | controller CPU-s/host | host CPU-s/host | **CPU-s per host** | ok |",
           "|---|---|---|---|---|---|---|---|"]
    for s in doc["summary"]:
        out.append("| %s | %s | %s | %s | %s | %s | **%s** | %s |" % (
            s["variant"], s["kind"], s["tasks_per_host"], s["wall_s"], s["controller_cpu_s_per_host"],
            s["host_cpu_s_per_host"], s["cpu_s_per_host"], "yes" if s["ok"] else "NO"))
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=None, help="fleet size (default 4; --quick 2)")
    p.add_argument("--serial", default="2", help="batch size (default 2)")
    p.add_argument("--forks", type=int, default=5)
    p.add_argument("--runs", type=int, default=1, help="before/after pairs (the table shows medians)")
    p.add_argument("--ref", default="main", help="git ref of the 'before' collection (default main)")
    p.add_argument("--no-before", action="store_true", help="measure this checkout only")
    p.add_argument("--quick", action="store_true", help="2 hosts, no rerun")
    p.add_argument("--keep-lab", action="store_true")
    p.add_argument("--update-readme", action="store_true")
    args = p.parse_args(argv)
    args.hosts = args.hosts or (2 if args.quick else 4)
    if not 1 <= args.hosts <= MAX_HOSTS or not 1 <= args.runs <= 5 or not 1 <= args.forks <= 50:
        raise SystemExit("--hosts within 1..%d, --runs within 1..5, --forks within 1..50" % MAX_HOSTS)
    if os.geteuid() != 0 or not cgroups_available():
        print("vm_host_cost: needs root and a writable cpuacct (v1) or cgroup v2 hierarchy; nothing measured")
        return 0
    load_start = labbench.load()
    rows = []
    with labbench.LabSession(keep=args.keep_lab) as lab, tempfile.TemporaryDirectory(prefix="pd-bench-vmcost-") as work:
        from lab import vmhosts
        from lab.__main__ import vm_fleet_args
        fleet = vmhosts.VmFleet(**vm_fleet_args())
        variants = [("after", ROOT / "build" / "collections", ROOT)]
        if not args.no_before:
            variants.insert(0, ("before",) + labbench.unpack_ref(args.ref, Path(work) / "before"))
        groups = (CpuGroup("pd-bench-ctl-%d" % os.getpid()), CpuGroup("pd-bench-hosts-%d" % os.getpid()))
        try:
            for _ in range(args.runs):
                for label, collections_root, checkout in variants:
                    rows += one_variant(lab, fleet, label, collections_root, checkout, args, groups, work)
        finally:
            for g in groups:
                g.remove()
    doc = {"meta": {"date": labbench.now_utc(), "machine": labbench.machine(), "load_start": load_start,
                    "load_end": labbench.load(), "hosts": args.hosts, "serial": args.serial, "forks": args.forks,
                    "ref": None if args.no_before else args.ref,
                    "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
           "summary": summarize(rows), "runs": rows}
    labbench.publish("vm_host_cost", doc, render_markdown(doc), update_readme=args.update_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
