"""The lab CLI (`make lab-up / lab-status / lab-down` call it).

    python -m lab up [--no-vms] [--timeout S]   start the daemon (idempotent), wait until the world is ready
    python -m lab status [--json]               endpoint, services, listener weights, target health, catalogue
    python -m lab down [--timeout S]            stop traffic, VM hosts, daemon and every task; free the ports
    python -m lab reset [--shape slots|single]  reset moto and seed the world again (daemon keeps running);
                                                single: the seed's one service behind a plain forward, to adopt
    python -m lab traffic start|stop|report ... the load generator (lab/traffic.py)
    python -m lab faults [show|off|JSON]        fault settings of the running lab: throttling, 5xx, latency (lab/faults.py)
    python -m lab daemon                        the daemon itself, in the foreground
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from lab import config

UP_TIMEOUT_S = 120.0    # generous: on a loaded 2-core machine imports alone can take 20 s
DOWN_TIMEOUT_S = 20.0


def _state(name):
    path = Path(config.STATE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path / name


def lab_api(path, method="GET", timeout=5.0):
    """JSON from the daemon's /lab-api/<path>, or None when nothing answers."""
    req = urllib.request.Request(config.AWS_ENDPOINT + "/lab-api/" + path, method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def faults(args):
    """Show, switch off or set the running lab's fault settings (lab/faults.py documents the JSON)."""
    what = " ".join(args.settings).strip() or "show"
    if what == "show":
        data, method = None, "GET"
    else:
        data, method = (b"{}" if what == "off" else what.encode()), "POST"
    req = urllib.request.Request(config.AWS_ENDPOINT + "/lab-api/faults", method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            print(json.dumps(json.loads(resp.read().decode()), indent=2))
            return 0
    except urllib.error.HTTPError as e:
        print("lab faults: %s" % json.loads(e.read().decode() or "{}").get("error", e), file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError, ValueError) as e:
        print("lab faults: lab is not up (%s)" % e, file=sys.stderr)
        return 1


def daemon_pid():
    try:
        pid = int(_state("daemon.pid").read_text().split()[0])
        cmdline = Path("/proc/%d/cmdline" % pid).read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"lab" in cmdline and b"daemon" in cmdline else None


def _alive(pid):
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_ready(timeout):
    """The daemon's status once it reports ready (seeded, every service steady); None on timeout."""
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        status = lab_api("status")
        if status and status.get("seed_error"):
            raise RuntimeError("seeding the lab world failed: %s (see %s)" % (status["seed_error"],
                                                                             _state("daemon.log")))
        if status and status.get("ready"):
            return status
        time.sleep(0.25)
    return None


def vm_fleet_args():
    return {"state_dir": config.STATE_DIR, "bridge": config.VM_BRIDGE, "subnet": config.VM_SUBNET,
            "prefix": config.VM_PREFIX, "inventory": config.VM_INVENTORY}


def print_endpoints(status):
    print("lab AWS endpoint: %s  (region %s, credentials testing/testing)" % (config.AWS_ENDPOINT, config.REGION))
    for api, local in sorted(config.LISTENER_LOCAL_PORTS.items()):
        name = {config.PROD_LISTENER_PORT: "production", config.TEST_LISTENER_PORT: "test",
                config.VM_LISTENER_PORT: "VM"}.get(api, "")
        scheme = "https" if api in config.TLS_LISTENERS else "http"
        print("  %-10s listener :%-5d -> %s://127.0.0.1:%d" % (name, api, scheme, local))
    print("  lab CA (for HTTPS listeners): %s" % (Path(config.STATE_DIR) / "tls" / "ca.pem"))
    if config.CW_SHAPE != "lab" or config.METRIC_DELAY_PERIODS != "0":
        print("  CloudWatch shaped like %s: %d s periods, put %s period(s) late" % (
            config.CW_SHAPE.upper() if config.CW_SHAPE == "aws" else "the lab", config.METRIC_PERIOD,
            config.METRIC_DELAY_PERIODS))


def up(args):
    status = lab_api("status")
    if status:
        print("lab already up (pid %s)" % status.get("pid"))
        print_endpoints(status)
        return 0
    from lab.tasks import kill_leftovers
    kill_leftovers()
    started = time.time()
    log = _state("daemon.log").open("ab")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(config.REPO), os.environ.get("PYTHONPATH"))
                                                        if p))
    proc = subprocess.Popen([sys.executable, "-m", "lab", "daemon"], cwd=str(config.REPO), env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    status = None
    try:
        status = wait_ready(args.timeout)
    except RuntimeError as e:
        print("lab up: %s" % e, file=sys.stderr)
    if status is None:
        if proc.poll() is not None:
            print("lab up: the daemon exited (rc %s); see %s" % (proc.returncode, _state("daemon.log")),
                  file=sys.stderr)
        else:
            print("lab up: not ready within %.0f s; see %s (stopping it)" % (args.timeout, _state("daemon.log")),
                  file=sys.stderr)
            down(argparse.Namespace(timeout=DOWN_TIMEOUT_S, quiet=True))
        return 1
    print("lab up in %.1f s (daemon pid %d)" % (time.time() - started, proc.pid))
    vm_count = 0 if args.no_vms else config.VM_COUNT
    if vm_count:
        try:
            from lab import vmhosts
            hosts = vmhosts.create_hosts(vm_count, **vm_fleet_args())
            print("  %d VM hosts: %s (inventory %s)" % (len(hosts), " ".join(h["address"] for h in hosts),
                                                     config.VM_INVENTORY))
        except Exception as e:   # the ECS world is up; VM hosts need root and openssh-server
            print("  VM hosts not created: %s" % e, file=sys.stderr)
    print_endpoints(status)
    return 0


def _port_free(port):
    import socket
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def down(args):
    quiet = getattr(args, "quiet", False)
    try:
        from lab import traffic
        traffic.stop_background()
    except Exception as e:
        print("lab down: traffic stop: %s" % e, file=sys.stderr)
    try:
        from lab import vmhosts
        vmhosts.destroy_hosts(**vm_fleet_args())
    except Exception as e:
        print("lab down: VM hosts: %s" % e, file=sys.stderr)
    pid = daemon_pid()
    if pid:
        lab_api("shutdown", "POST", timeout=2)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
        deadline = time.time() + args.timeout
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            print("lab down: daemon %d did not stop in %.0f s: SIGKILL" % (pid, args.timeout), file=sys.stderr)
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                os.kill(pid, signal.SIGKILL)
    from lab.tasks import kill_leftovers
    left = kill_leftovers()
    _state("daemon.pid").unlink(missing_ok=True)
    ports = [config.AWS_PORT] + list(config.LISTENER_LOCAL_PORTS.values())
    deadline = time.time() + 5
    busy = ports
    while busy and time.time() < deadline:
        busy = [p for p in ports if not _port_free(p)]
        if busy:
            time.sleep(0.1)
    if not quiet:
        print("lab down%s%s" % (" (daemon pid %d stopped)" % pid if pid else " (it was not running)",
                               ", %d leftover task processes killed" % len(left) if left else ""))
    if busy:
        print("lab down: ports still in use: %s" % busy, file=sys.stderr)
        return 1
    return 0


def reset(args):
    if not lab_api("status"):
        print("lab is not up", file=sys.stderr)
        return 1
    result = lab_api("reset?shape=%s" % args.shape, "POST", timeout=120)
    if result is None:
        print("lab reset failed; see %s" % _state("daemon.log"), file=sys.stderr)
        return 1
    status = wait_ready(args.timeout)
    print("lab reset: world seeded again (%s)%s" % (args.shape, "" if status else " (not ready yet)"))
    reregister_vm_hosts()
    return 0 if status else 1


def reregister_vm_hosts():
    """The reset forgot the VM target group and listener: put the VM hosts still running back behind them."""
    try:
        from lab import vmhosts
        fleet = vmhosts.VmFleet(**vm_fleet_args())
        addresses = [h["address"] for h in fleet.list()]
        if addresses:
            fleet.register_targets(addresses)
            print("  %d VM hosts registered again in %s" % (len(addresses), fleet.target_group))
    except Exception as e:   # VM hosts are optional (root, openssh-server)
        print("lab reset: VM hosts not registered again: %s" % e, file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab", description="The progressive.delivery AWS lab.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up")
    p.add_argument("--no-vms", action="store_true", help="do not create the namespace VM hosts")
    p.add_argument("--timeout", type=float, default=UP_TIMEOUT_S)
    p = sub.add_parser("down")
    p.add_argument("--timeout", type=float, default=DOWN_TIMEOUT_S)
    p = sub.add_parser("status")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("reset")
    p.add_argument("--timeout", type=float, default=UP_TIMEOUT_S)
    p.add_argument("--shape", choices=config.SHAPES, default="slots",
                   help="slots: the seeded slot layout (default); single: one service, one target group, plain forward")
    sub.add_parser("daemon")
    p = sub.add_parser("traffic", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("faults", help="show | off | a JSON document of fault settings (lab/faults.py)")
    p.add_argument("settings", nargs="*")
    args = parser.parse_args(argv)
    if args.cmd == "faults":
        return faults(args)
    if args.cmd == "daemon":
        from lab.daemon import main as daemon_main
        return daemon_main()
    if args.cmd == "up":
        return up(args)
    if args.cmd == "down":
        return down(args)
    if args.cmd == "reset":
        return reset(args)
    if args.cmd == "traffic":
        from lab import traffic
        return traffic.main(args.rest)
    from lab.status import main as status_main
    return status_main(json_output=args.json)


if __name__ == "__main__":
    sys.exit(main())
