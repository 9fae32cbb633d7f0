"""Run real playbooks from pytest and read their results.

`run_playbook` writes a playbook to a temp dir and runs `ansible-playbook` from the
repo's venv with this repo's ansible.cfg, so `progressive.delivery.*`, amazon.aws and
community.aws resolve exactly as they do for a user. Results come back through the
ansible.posix.json callback, one entry per task per host.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PlaybookResult:
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    def tasks(self):
        """Every task result of every play: list of (task name, host, result dict)."""
        out = []
        for play in (self.data or {}).get("plays", []):
            for task in play.get("tasks", []):
                for host, res in task.get("hosts", {}).items():
                    out.append((task["task"]["name"], host, res))
        return out

    def task(self, name, host="localhost"):
        """The result of the last task called `name` on `host` (role tasks match with or without `role : `)."""
        found = [r for n, h, r in self.tasks() if (n == name or n.endswith(" : " + name)) and h == host]
        assert found, "no task %r in %s" % (name, [n for n, _, _ in self.tasks()])
        return found[-1]

    @property
    def stats(self):
        return (self.data or {}).get("stats", {})

    def failures(self):
        """(task, host, msg) of every failed or unreachable task result."""
        return [(n, h, r.get("msg") or r.get("stderr") or r) for n, h, r in self.tasks()
                if r.get("failed") or r.get("unreachable")]

    def __repr__(self):
        if self.data is None:
            return "PlaybookResult(rc=%s)\nSTDOUT:\n%s\nSTDERR:\n%s" % (self.rc, self.stdout[-6000:], self.stderr[-3000:])
        return "PlaybookResult(rc=%s, failures=%r)\nSTDERR:\n%s" % (self.rc, self.failures(), self.stderr[-3000:])


def run_playbook(playbook, extra_vars=None, check=False, diff=False, inventory=None, env=None, timeout=600, args=()):
    """Run `playbook` (a path, or a list of plays to dump as YAML) and return a PlaybookResult."""
    with tempfile.TemporaryDirectory(prefix="pd-play-") as tmp:
        if not isinstance(playbook, (str, Path)):
            path = Path(tmp) / "play.yml"
            path.write_text(yaml.safe_dump(playbook, sort_keys=False))
            playbook = path
        cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
        if inventory:
            cmd += ["-i", str(inventory)]
        if extra_vars:
            vars_file = Path(tmp) / "extra_vars.json"
            vars_file.write_text(json.dumps(extra_vars))
            cmd += ["-e", "@%s" % vars_file]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        cmd += list(args)
        full_env = dict(os.environ)
        full_env.update(AWS_ENV)
        full_env.update({
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_JSON_INDENT": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
        })
        full_env.update(env or {})
        proc = subprocess.run(cmd, cwd=str(REPO), env=full_env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        start = proc.stdout.find("{")
        try:
            data = json.loads(proc.stdout[start:]) if start >= 0 else None
        except ValueError:
            data = None
        result = PlaybookResult(proc, data)
        if result.rc != 0:
            # Shown whole under "Captured stdout call" when the test fails (assertion messages get shortened).
            for task, host, msg in (result.failures() if data is not None else []):
                print("playbook %s failed at %s [%s]: %s" % (Path(str(playbook)).name, task, host, msg))
        return result


def localhost_play(tasks, endpoint_url, name="test", gather_facts=False, vars=None):
    """One play on localhost whose AWS modules (ours, amazon.aws, community.aws) all talk to endpoint_url."""
    aws = {"endpoint_url": endpoint_url, "region": "us-east-1",
           "access_key": "testing", "secret_key": "testing", "session_token": "testing"}
    return [{
        "name": name,
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": gather_facts,
        "vars": dict({"ansible_python_interpreter": sys.executable}, **(vars or {})),
        "module_defaults": {"group/progressive.delivery.aws": aws},
        "tasks": tasks,
    }]


class MotoServer:
    """Plain moto in server mode on a free loopback port (the lab extends it; this is the bare one)."""

    def __init__(self):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not start on port %d" % self.port)

    def reset(self):
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=5).read()

    def client(self, service):
        import boto3
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
