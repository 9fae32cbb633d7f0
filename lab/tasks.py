"""ECS task processes: each task is a local `python -m lab.app` bound to its own loopback address.

Pid files live in STATE_DIR/tasks/ so `lab down` can find every task process even if the daemon died.
Task environments carry resolved secrets: they are passed to the child only, never logged or written.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lab import config

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
BASE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TZ")
# A task process gets SIGTERM when the daemon (its parent) dies, even by SIGKILL: no task outlives the lab.
PDEATHSIG = ["/usr/bin/setpriv", "--pdeathsig", "TERM"] if os.path.exists("/usr/bin/setpriv") else []


def tasks_dir():
    path = Path(config.STATE_DIR) / "tasks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def port_open(address, port, timeout=0.2):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


class IpPool:
    """Loopback addresses TASK_IP_PREFIX + '0.10' upwards; an address is reused only after release()."""

    def __init__(self, prefix=None, first=10, size=240 * 4):
        self.prefix = prefix or config.TASK_IP_PREFIX
        self.first = first
        self.size = size
        self.in_use = set()
        self.next = 0

    def address(self, n):
        third, fourth = divmod(self.first + n, 250)
        return "%s%d.%d" % (self.prefix, third, fourth if third == 0 else fourth + 1)

    def allocate(self, port):
        for _ in range(self.size):
            candidate = self.address(self.next % self.size)
            self.next += 1
            if candidate not in self.in_use and not port_open(candidate, port, 0.05):
                self.in_use.add(candidate)
                return candidate
        raise RuntimeError("no free task address left under %s" % self.prefix)

    def release(self, address):
        self.in_use.discard(address)


class TaskProcess:
    def __init__(self, task_id, address, port, env):
        self.task_id = task_id
        self.address = address
        self.port = port
        child_env = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config.REPO), child_env.get("PYTHONPATH")) if p)
        child_env.update(env)
        self.log_path = tasks_dir() / ("%s.log" % task_id)
        self.pid_path = tasks_dir() / ("%s.pid" % task_id)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(PDEATHSIG + [sys.executable, "-m", "lab.app"], cwd=str(config.REPO),
                                         env=child_env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_path.write_text("%d\n" % self.proc.pid)
        self._cpu_last = None

    @property
    def pid(self):
        return self.proc.pid

    def exit_code(self):
        """None while running."""
        return self.proc.poll()

    def ready(self):
        return self.exit_code() is None and port_open(self.address, self.port)

    def terminate(self):
        if self.exit_code() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass

    def kill(self):
        if self.exit_code() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait(2)
        self.cleanup()

    def cleanup(self):
        self.pid_path.unlink(missing_ok=True)

    def cpu_fraction(self):
        """CPU time used since the previous call / wall time (1.0 = one full core); None on the first call."""
        try:
            fields = Path("/proc/%d/stat" % self.proc.pid).read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        now = time.monotonic()
        last, self._cpu_last = self._cpu_last, (cpu, now)
        if last is None or now <= last[1]:
            return None
        return max(0.0, (cpu - last[0]) / (now - last[1]))

    def rss_bytes(self):
        try:
            return int(Path("/proc/%d/statm" % self.proc.pid).read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            return None


def kill_leftovers(timeout=5.0):
    """Kill every task process recorded in STATE_DIR/tasks (after a daemon crash); returns the pids signalled."""
    pids = []
    for pid_file in tasks_dir().glob("*.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            cmdline = Path("/proc/%d/cmdline" % pid).read_bytes()
        except (OSError, ValueError, IndexError):
            pid_file.unlink(missing_ok=True)
            continue
        if b"lab.app" in cmdline:
            pids.append(pid)
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
        pid_file.unlink(missing_ok=True)
    deadline = time.time() + timeout
    for pid in pids:
        while time.time() < deadline and Path("/proc/%d" % pid).exists() and not _zombie(pid):
            time.sleep(0.05)
        if Path("/proc/%d" % pid).exists() and not _zombie(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    return pids


def _zombie(pid):
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
