"""The lab's VM hosts: sshd "machines" in network namespaces on a bridge, with the app pre-deployed.

Each host `pdlab-vmN` (N = 1..n) is
  - a network namespace with a veth on bridge config.VM_BRIDGE (bridge VM_SUBNET.1/24, host VM_SUBNET.(10+N)),
  - its own UTS and mount namespace (`unshare --uts --mount --propagation private`): own hostname, and
    /srv bind-mounted from STATE_DIR/vms/<name>/srv,
  - sshd on port 22, key auth only (the lab key pair STATE_DIR/lab_key), its own host key,
  - the app deployed as release v1.2.2 in the VM layout of DESIGN §2:
      /srv/myapp/releases/<version>/{app.py,behaviour.json,VERSION,bin/start,bin/stop,bin/status}
      /srv/myapp/current -> /srv/myapp/releases/<version>
      /srv/myapp/run/myapp.pid, /srv/myapp/log/myapp.log
    run by its command unit (bin/start | bin/stop | bin/status) on config.VM_APP_PORT.
Release artifacts for every catalogue version are built under STATE_DIR/artifacts/:
myapp-<version>.tar.gz (files at the archive root, deterministic bytes) + myapp-<version>.tar.gz.sha256.
The inventory (group vm_hosts, host-key checking on, against STATE_DIR/known_hosts) is written to
inventories/lab/vm_hosts.yml, and the hosts' app ports are registered in target group config.VM_TARGET_GROUP
behind listener config.VM_LISTENER_PORT of the lab ALB (both created through the API when missing).

Needs root, iproute2, util-linux (unshare, nsenter) and openssh-server.
    python -m lab.vmhosts up [-n 5] | down | list
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

try:
    from lab import config
except ImportError:  # run as a file from lab/
    import config  # type: ignore

APP_SOURCE = Path(__file__).resolve().parent / "app" / "server.py"
SSHD = "/usr/sbin/sshd"
CMD_TIMEOUT_S = 20
MAX_HOSTS = 50
APP_NAME = config.APP
BASE_VERSION = config.LIVE_TAG
ARTIFACT_MTIME = 1767225600     # fixed archive timestamps: same version -> same bytes -> same sha256

START_SCRIPT = r"""#!/bin/sh
# Command unit: start the release this script belongs to, detached, and wait (bounded) for its port.
set -eu
RELEASE=$(cd "$(dirname "$0")/.." && pwd -P)
ROOT=${MYAPP_ROOT:-/srv/myapp}
PORT=${PORT:-%(port)d}
mkdir -p "$ROOT/run" "$ROOT/log"
if [ -f "$ROOT/run/myapp.pid" ] && kill -0 "$(cat "$ROOT/run/myapp.pid")" 2>/dev/null; then
  echo "myapp already running (pid $(cat "$ROOT/run/myapp.pid"))"
  exit 0
fi
VERSION=$(cat "$RELEASE/VERSION") PORT=$PORT LAB_BIND=${LAB_BIND:-0.0.0.0} \
  setsid /usr/bin/python3 "$RELEASE/app.py" </dev/null >>"$ROOT/log/myapp.log" 2>&1 &
echo $! > "$ROOT/run/myapp.pid"
i=0
while [ $i -lt 100 ]; do
  if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then
    echo "myapp $(cat "$RELEASE/VERSION") started (pid $(cat "$ROOT/run/myapp.pid"))"
    exit 0
  fi
  kill -0 "$(cat "$ROOT/run/myapp.pid")" 2>/dev/null || break
  sleep 0.1
  i=$((i+1))
done
echo "myapp $(cat "$RELEASE/VERSION") did not open port $PORT; see $ROOT/log/myapp.log" >&2
exit 1
"""

STOP_SCRIPT = r"""#!/bin/sh
# Command unit: stop the running app (SIGTERM: it finishes in-flight requests), bounded, then SIGKILL.
set -u
ROOT=${MYAPP_ROOT:-/srv/myapp}
PIDFILE="$ROOT/run/myapp.pid"
[ -f "$PIDFILE" ] || { echo "myapp not running"; exit 0; }
PID=$(cat "$PIDFILE")
if kill -0 "$PID" 2>/dev/null; then
  kill -TERM "$PID"
  i=0
  while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
fi
rm -f "$PIDFILE"
echo "myapp stopped"
"""

STATUS_SCRIPT = r"""#!/bin/sh
# Command unit: exit 0 and print the running version when running, exit 3 (LSB "not running") otherwise.
ROOT=${MYAPP_ROOT:-/srv/myapp}
PIDFILE="$ROOT/run/myapp.pid"
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "running pid $(cat "$PIDFILE") release $(readlink "$ROOT/current" 2>/dev/null || echo unknown)"
  exit 0
fi
echo "not running"
exit 3
"""


def _run(cmd, check=True, timeout=CMD_TIMEOUT_S, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s" % (" ".join(map(str, cmd)), proc.returncode,
                                                     (proc.stderr or proc.stdout).strip()))
    return proc


# ---------------------------------------------------------------- artifacts (pure file building)

def load_catalogue(path=None):
    import yaml
    with open(path or config.CATALOGUE_FILE) as f:
        return yaml.safe_load(f)["images"]


def release_files(version, behaviour, port=None):
    """{relative path: (mode, bytes)} of one release."""
    port = port or config.VM_APP_PORT
    behaviour = {k: behaviour[k] for k in ("error_rate", "extra_latency_ms", "health") if k in behaviour}
    return {
        "app.py": (0o755, APP_SOURCE.read_bytes()),
        "behaviour.json": (0o644, (json.dumps(behaviour, sort_keys=True) + "\n").encode()),
        "VERSION": (0o644, (version + "\n").encode()),
        "bin/start": (0o755, (START_SCRIPT % {"port": port}).encode()),
        "bin/stop": (0o755, STOP_SCRIPT.encode()),
        "bin/status": (0o755, STATUS_SCRIPT.encode()),
    }


def build_artifact(version, behaviour, out_dir, port=None):
    """Write <out_dir>/myapp-<version>.tar.gz (+ .sha256 in sha256sum format); return (path, sha256)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = release_files(version, behaviour, port)
        for d in ("bin",):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, ARTIFACT_MTIME
            tar.addfile(info)
        for name in sorted(files):
            mode, data = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, ARTIFACT_MTIME
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    path = out_dir / ("%s-%s.tar.gz" % (APP_NAME, version))
    path.write_bytes(packed.getvalue())
    digest = hashlib.sha256(packed.getvalue()).hexdigest()
    Path(str(path) + ".sha256").write_text("%s  %s\n" % (digest, path.name))
    return path, digest


def build_artifacts(out_dir, catalogue=None, port=None):
    """Artifacts for every catalogue version; {version: (path, sha256)}."""
    catalogue = catalogue or load_catalogue()
    return {version: build_artifact(version, behaviour, out_dir, port) for version, behaviour in catalogue.items()}


def host_names(n, prefix="pdlab-vm"):
    if not 1 <= n <= MAX_HOSTS:
        raise ValueError("host count must be 1..%d, not %r" % (MAX_HOSTS, n))
    return ["%s%d" % (prefix, i) for i in range(1, n + 1)]


def inventory_doc(hosts, state_dir, app_port, extra_vars=None):
    """The vm_hosts inventory as a dict (hosts: [{name, address}])."""
    state_dir = Path(state_dir)
    group_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(state_dir / "lab_key"),
        "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % (
            state_dir / "known_hosts"),
        "ansible_python_interpreter": "/usr/bin/python3",
        "lab_vm_app_port": app_port,
        "lab_vm_app_root": "/srv/myapp",
        "lab_vm_artifacts_dir": str(state_dir / "artifacts"),
    }
    group_vars.update(extra_vars or {})
    return {"all": {"children": {"vm_hosts": {
        "hosts": {h["name"]: {"ansible_host": h["address"]} for h in hosts},
        "vars": group_vars}}}}


# ---------------------------------------------------------------- the fleet

class VmFleet:
    """n namespace hosts. Defaults are the lab's layout (config); tests pass their own names to stay apart."""

    def __init__(self, state_dir=None, bridge=None, subnet=None, prefix=None, inventory=None,
                 app_port=None, endpoint=None, alb_name=None, target_group=None, listener_port=None):
        self.state_dir = Path(state_dir or config.STATE_DIR)
        self.bridge = bridge or config.VM_BRIDGE
        self.subnet = subnet or config.VM_SUBNET
        self.prefix = prefix or getattr(config, "VM_PREFIX", "pdlab-vm")
        self.inventory = Path(inventory or getattr(config, "VM_INVENTORY",
                                                   config.REPO / "inventories" / "lab" / "vm_hosts.yml"))
        self.app_port = app_port or config.VM_APP_PORT
        self.endpoint = endpoint or config.AWS_ENDPOINT
        self.alb_name = alb_name or config.ALB_NAME
        self.target_group = target_group or config.VM_TARGET_GROUP
        self.listener_port = listener_port or config.VM_LISTENER_PORT
        self.vms_dir = self.state_dir / "vms"
        self.artifacts_dir = self.state_dir / "artifacts"
        self.key = self.state_dir / "lab_key"
        self.known_hosts = self.state_dir / "known_hosts"

    # -- naming
    def address(self, index):
        return "%s.%d" % (self.subnet, 10 + index)

    def veth(self, index):
        return "%sv%d" % (self.bridge, index)      # host side; <= 15 chars

    def _index(self, name):
        return int(name[len(self.prefix):])

    def existing(self):
        """Names of this fleet's namespaces that exist now."""
        out = _run(["ip", "netns", "list"], check=False).stdout
        names = [line.split()[0] for line in out.splitlines() if line.strip()]
        return sorted((n for n in names if n.startswith(self.prefix) and n[len(self.prefix):].isdigit()),
                      key=self._index)

    # -- create
    def create(self, n=None, register=True):
        """Fresh fleet of n hosts (an existing one is destroyed first). Returns list_hosts()."""
        n = n or config.VM_COUNT
        names = host_names(n, self.prefix)
        if len(self.veth(n)) > 15:
            raise ValueError("bridge name %r too long for veth names (%s)" % (self.bridge, self.veth(n)))
        for tool in ("ip", "unshare", "nsenter", "ssh-keygen", SSHD):
            if not shutil.which(tool):
                raise RuntimeError("%s not found: run tools/setup.sh (iproute2, util-linux, openssh-server)" % tool)
        if os.geteuid() != 0:
            raise RuntimeError("VM hosts need root (network namespaces, bridge, bind mounts)")
        self.destroy(deregister=False)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lab_key()
        artifacts = build_artifacts(self.artifacts_dir, port=self.app_port)
        self._bridge_up()
        hosts, known = [], []
        try:
            for name in names:
                hosts.append(self._create_host(name, artifacts[BASE_VERSION][0]))
                known.append("%s %s" % (hosts[-1]["address"], hosts[-1]["host_key"]))
            self.known_hosts.write_text("\n".join(known) + "\n")
            for host in hosts:
                self._wait_port(host["address"], 22)
                self._start_app(host)
            self._write_inventory(hosts)
            if register:
                self.register_targets([h["address"] for h in hosts])
        except Exception:
            self.destroy(deregister=False)
            raise
        return self.list()

    def _lab_key(self):
        if not self.key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pdlab", "-f", str(self.key)])
        self.key.chmod(0o600)

    def _bridge_up(self):
        if _run(["ip", "link", "show", self.bridge], check=False).returncode != 0:
            _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "replace", "%s.1/24" % self.subnet, "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])

    def _create_host(self, name, base_artifact):
        index = self._index(name)
        address = self.address(index)
        home = self.vms_dir / name
        shutil.rmtree(home, ignore_errors=True)
        srv = home / "srv"
        (srv / APP_NAME / "releases").mkdir(parents=True)
        self._unpack(base_artifact, srv / APP_NAME / "releases" / BASE_VERSION)
        os.symlink("/srv/%s/releases/%s" % (APP_NAME, BASE_VERSION), srv / APP_NAME / "current")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(home / "ssh_host_ed25519_key")])
        host_key = " ".join((home / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        (home / "sshd_config").write_text("\n".join([
            "Port 22",
            "ListenAddress %s" % address,
            "HostKey %s" % (home / "ssh_host_ed25519_key"),
            "PidFile %s" % (home / "sshd.pid"),
            "AuthorizedKeysFile %s.pub" % self.key,
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "",
        ]))

        veth = self.veth(index)
        _run(["ip", "netns", "add", name])
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name])
        _run(["ip", "link", "set", veth, "master", self.bridge])
        _run(["ip", "link", "set", veth, "up"])
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", "%s/24" % address, "dev", "eth0"],
                    ["ip", "link", "set", "eth0", "up"],
                    ["ip", "route", "add", "default", "via", "%s.1" % self.subnet]):
            _run(["ip", "netns", "exec", name] + cmd)
        # The host's "init": own hostname and a private /srv, then sshd in the foreground; every ssh session and
        # every process started through it lives in these namespaces.
        init = ("hostname %s && mount --bind %s /srv && mkdir -p /run/sshd && exec %s -D -e -f %s"
                % (name, srv, SSHD, home / "sshd_config"))
        with open(home / "sshd.log", "ab") as log:
            proc = subprocess.Popen(["ip", "netns", "exec", name, "unshare", "--uts", "--mount",
                                     "--propagation", "private", "sh", "-c", init],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        (home / "init.pid").write_text("%d\n" % proc.pid)
        return {"name": name, "address": address, "host_key": host_key, "init_pid": proc.pid, "home": home}

    @staticmethod
    def _unpack(artifact, dest):
        dest.mkdir(parents=True)
        with tarfile.open(artifact) as tar:
            tar.extractall(dest, filter="data")

    @staticmethod
    def _wait_port(address, port, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection((address, port), timeout=0.3):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nothing listening on %s:%d after %.0f s" % (address, port, timeout))

    def _enter(self, host_pid, cmd, timeout=CMD_TIMEOUT_S):
        """Run cmd inside a host's net, UTS and mount namespaces (those of its sshd)."""
        return _run(["nsenter", "-t", str(host_pid), "-n", "-u", "-m"] + cmd, timeout=timeout)

    def _sshd_pid(self, name):
        try:
            return int((self.vms_dir / name / "sshd.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _start_app(self, host):
        deadline = time.time() + 5
        pid = self._sshd_pid(host["name"])
        while pid is None and time.time() < deadline:
            time.sleep(0.05)
            pid = self._sshd_pid(host["name"])
        if pid is None:
            raise RuntimeError("sshd of %s wrote no pid file; see %s" % (host["name"], host["home"] / "sshd.log"))
        self._enter(pid, ["/srv/%s/current/bin/start" % APP_NAME])

    def _write_inventory(self, hosts):
        import yaml
        doc = inventory_doc(hosts, self.state_dir, self.app_port, {
            "lab_vm_target_group": self.target_group,
            "lab_vm_listener_url": "http://127.0.0.1:%d" % config.LISTENER_LOCAL_PORTS.get(self.listener_port, 0),
        })
        self.inventory.parent.mkdir(parents=True, exist_ok=True)
        self.inventory.write_text("---\n# Written by lab/vmhosts.py for the lab's namespace hosts; regenerated on every "
                                  "`lab up`. Not committed.\n" + yaml.safe_dump(doc, sort_keys=False))

    # -- ALB registration (through the API, as everything else)
    def _elbv2(self):
        import boto3
        from botocore.config import Config
        return boto3.client("elbv2", endpoint_url=self.endpoint, region_name=config.REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(user_agent_extra="lab-vmhosts", retries={"max_attempts": 2},
                                          connect_timeout=2, read_timeout=10))

    def ensure_target_group(self, elbv2=None):
        """The VM target group ARN, created (health check /health) with a forwarding listener if missing."""
        elbv2 = elbv2 or self._elbv2()
        try:
            lb = elbv2.describe_load_balancers(Names=[self.alb_name])["LoadBalancers"][0]
        except elbv2.exceptions.LoadBalancerNotFoundException:
            raise RuntimeError("load balancer %s not found at %s: seed the lab world first" % (
                self.alb_name, self.endpoint))
        try:
            tg_arn = elbv2.describe_target_groups(Names=[self.target_group])["TargetGroups"][0]["TargetGroupArn"]
        except elbv2.exceptions.TargetGroupNotFoundException:
            tg_arn = elbv2.create_target_group(
                Name=self.target_group, Protocol="HTTP", Port=self.app_port, VpcId=lb["VpcId"], TargetType="ip",
                HealthCheckProtocol="HTTP", HealthCheckPath="/health", HealthCheckIntervalSeconds=5,
                HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
                Matcher={"HttpCode": "200"},
                Tags=[{"Key": "lab", "Value": "vm"}])["TargetGroups"][0]["TargetGroupArn"]
            elbv2.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        if not any(listener["Port"] == self.listener_port for listener in listeners):
            elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=self.listener_port,
                                  DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
        return tg_arn

    def register_targets(self, addresses):
        elbv2 = self._elbv2()
        tg_arn = self.ensure_target_group(elbv2)
        elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": a, "Port": self.app_port} for a in addresses])
        return tg_arn

    def _deregister_all(self):
        """Best effort: the API may already be gone when the lab goes down."""
        try:
            elbv2 = self._elbv2()
            tg_arn = elbv2.describe_target_groups(Names=[self.target_group])["TargetGroups"][0]["TargetGroupArn"]
            prefix = self.subnet + "."
            targets = [d["Target"] for d in elbv2.describe_target_health(TargetGroupArn=tg_arn)
                       ["TargetHealthDescriptions"] if d["Target"]["Id"].startswith(prefix)]
            if targets:
                elbv2.deregister_targets(TargetGroupArn=tg_arn, Targets=targets)
        except Exception:
            pass

    # -- list / destroy
    def list(self):
        hosts = []
        for name in self.existing():
            index = self._index(name)
            sshd = self._sshd_pid(name)
            alive = bool(sshd) and Path("/proc/%d" % sshd).exists()
            app_pid = None
            try:
                app_pid = int((self.vms_dir / name / "srv" / APP_NAME / "run" / "myapp.pid").read_text())
                os.kill(app_pid, 0)
            except (OSError, ValueError):
                app_pid = None
            try:
                current = os.readlink(self.vms_dir / name / "srv" / APP_NAME / "current").rsplit("/", 1)[-1]
            except OSError:
                current = None
            hosts.append({"name": name, "address": self.address(index), "ssh_port": 22, "sshd_pid": sshd,
                          "sshd_running": alive, "app_port": self.app_port, "app_pid": app_pid,
                          "current_release": current, "srv": str(self.vms_dir / name / "srv")})
        return hosts

    def destroy(self, deregister=True):
        """Kill every process in the fleet's namespaces, delete namespaces, veths, bridge, inventory."""
        names = self.existing()
        if deregister and names:
            self._deregister_all()
        # Several rounds: a deployment running during teardown may start a process after a round's census.
        for _ in range(3):
            pids = set()
            for name in names:
                out = _run(["ip", "netns", "pids", name], check=False).stdout
                pids.update(int(p) for p in out.split() if p.isdigit())
            pids = {p for p in pids if Path("/proc/%d" % p).exists() and not _zombie(p)}
            if not pids:
                break
            _terminate(pids)
        for name in names:       # reap the init processes if this process started them (no zombies left)
            try:
                os.waitpid(int((self.vms_dir / name / "init.pid").read_text()), os.WNOHANG)
            except (OSError, ValueError, ChildProcessError):
                pass
        for name in names:
            _run(["ip", "netns", "del", name], check=False)
            veth = self.veth(self._index(name))
            if _run(["ip", "link", "show", veth], check=False).returncode == 0:
                _run(["ip", "link", "del", veth], check=False)
        if _run(["ip", "link", "show", self.bridge], check=False).returncode == 0:
            _run(["ip", "link", "del", self.bridge], check=False)
        if self.inventory.exists():
            self.inventory.unlink()
        return names


def _terminate(pids, grace_s=3.0):
    """SIGTERM, then SIGKILL whatever is left after grace_s; reaps our own children."""
    pids = set(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in list(pids):
            try:
                os.kill(pid, sig)
            except OSError:
                pids.discard(pid)
        deadline = time.time() + grace_s
        while pids and time.time() < deadline:
            for pid in list(pids):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                if not Path("/proc/%d" % pid).exists() or _zombie(pid):
                    pids.discard(pid)
            time.sleep(0.05)


def _zombie(pid):
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------- the lab's interface

def create_hosts(n=None, **kw):
    register = kw.pop("register", True)
    return VmFleet(**kw).create(n, register=register)


def destroy_hosts(**kw):
    return VmFleet(**kw).destroy()


def list_hosts(**kw):
    return VmFleet(**kw).list()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.vmhosts", description="The lab's namespace VM hosts.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("-n", type=int, default=config.VM_COUNT)
    up.add_argument("--no-register", action="store_true", help="do not touch the ALB (no lab API running)")
    sub.add_parser("down")
    sub.add_parser("list")
    sub.add_parser("artifacts")
    args = parser.parse_args(argv)
    if args.cmd == "up":
        t0 = time.time()
        hosts = create_hosts(args.n, register=not args.no_register)
        print(json.dumps(hosts, indent=2))
        print("%d hosts up in %.1f s" % (len(hosts), time.time() - t0))
    elif args.cmd == "down":
        print("destroyed: %s" % (", ".join(destroy_hosts()) or "nothing"))
    elif args.cmd == "artifacts":
        for version, (path, digest) in sorted(build_artifacts(Path(config.STATE_DIR) / "artifacts").items()):
            print("%s  %s" % (digest, path))
    else:
        print(json.dumps(list_hosts(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
