"""Run the collection's playbooks through ansible-runner's Python API, the way AWX's execution nodes do.

`run_job` lays out a private data dir as AWX does for a job (env/settings, the project being this checkout,
artifacts under the private data dir), passes extra vars and environment (AWX's JOB_ID, the cloud credential's
AWS_* variables, callbacks enabled by environment), and collects what runner streams to its `event_handler` and
`status_handler` while the job runs, stamped with the time each one arrived.
"""
import json
import os
import time
from pathlib import Path

import ansible_runner

from harness import AWS_ENV, REPO, VENV_BIN

AUDIT_CALLBACK = "progressive.delivery.deployment_audit"


class Job:
    """One finished runner job: runner's own result, the events and statuses as they streamed, the artifacts."""

    def __init__(self, runner, streamed, statuses, audit_path, started, finished):
        self.runner = runner
        self.streamed = streamed            # [(time received (epoch), event dict)] in arrival order
        self.statuses = statuses            # [(time received (epoch), status)] in arrival order
        self.audit_path = audit_path
        self.started, self.finished = started, finished

    @property
    def status(self):
        return self.runner.status

    @property
    def rc(self):
        return self.runner.rc

    @property
    def artifact_dir(self):
        return Path(self.runner.config.artifact_dir)

    @property
    def events(self):
        """Every event as streamed, in runner's order (by counter)."""
        return sorted((e for _, e in self.streamed), key=lambda e: e["counter"])

    def stored_events(self):
        """The events as runner stored them in the artifacts (what AWX's job event view is built from)."""
        return sorted(self.runner.events, key=lambda e: e["counter"])

    def task_events(self, event="runner_on_ok", host=None):
        """(task name without its role prefix, host, event_data) of the task events of one kind, in order."""
        out = []
        for e in self.events:
            if e["event"] != event:
                continue
            data = e.get("event_data", {})
            if host is not None and data.get("host") != host:
                continue
            out.append((str(data.get("task", "")).split(" : ")[-1], data.get("host"), data))
        return out

    def results(self, task, event="runner_on_ok", host=None):
        """The module results (`res`) of the task called `task` (with or without its role prefix), in order."""
        return [d.get("res", {}) for name, _, d in self.task_events(event, host) if name == task or name.startswith(task)]

    def first_index(self, task, event="runner_on_ok"):
        """Position among all events of the first `event` of `task` (a prefix of the name without its role)."""
        for i, e in enumerate(self.events):
            name = str(e.get("event_data", {}).get("task", "")).split(" : ")[-1]
            if e["event"] == event and name.startswith(task):
                return i
        raise AssertionError("no %s event for task %r; tasks seen: %s" % (event, task, sorted(self.task_names())))

    def task_names(self):
        return {str(e.get("event_data", {}).get("task", "")).split(" : ")[-1] for e in self.events if e.get("event_data", {}).get("task")}

    @property
    def stats(self):
        found = [e for e in self.events if e["event"] == "playbook_on_stats"]
        assert len(found) == 1, [e["event"] for e in self.events][-5:]
        return found[0]["event_data"]

    def audit(self):
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]

    def stdout(self):
        return (self.artifact_dir / "stdout").read_text()

    def failures(self):
        return [(name, host, d.get("res", {}).get("msg")) for name, host, d in self.task_events("runner_on_failed")
                if not d.get("ignore_errors")]

    def __repr__(self):
        tail = ""
        try:
            tail = self.stdout()[-6000:]
        except OSError:
            pass
        return "Job(status=%s, rc=%s, failures=%r)\nSTDOUT (tail):\n%s" % (self.status, self.rc, self.failures(), tail)


def run_job(private_data_dir, playbook, extravars, inventory, job_id="4711", user="alice", envvars=None, timeout=1200):
    """Run `playbook` (path in this repo) through ansible_runner.run() as AWX job `job_id` launched by `user`.

    The deployment_audit callback is enabled through the environment and writes to
    <private_data_dir>/audit.jsonl; returns a Job.
    """
    private_data_dir, playbook = Path(private_data_dir), Path(playbook)
    (private_data_dir / "env").mkdir(parents=True, exist_ok=True)
    # AWX writes the job's runner settings here; runner reads them itself.
    (private_data_dir / "env" / "settings").write_text(json.dumps({"job_timeout": timeout, "suppress_ansible_output": True}))
    audit_path = private_data_dir / "audit.jsonl"
    env = dict(AWS_ENV)
    env.update({
        # What AWX sets for a job; the audit callback takes the execution id from it.
        "JOB_ID": str(job_id),
        "ANSIBLE_CALLBACKS_ENABLED": AUDIT_CALLBACK,
        "DEPLOYMENT_AUDIT_FILE": str(audit_path),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        # ansible-playbook and the interpreter the lab inventory names come from this venv.
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
    })
    env.update(envvars or {})
    extra = {"awx_job_id": int(job_id), "awx_user_name": user, "tower_job_id": int(job_id), "tower_user_name": user}
    extra.update(extravars)

    streamed, statuses = [], []

    def on_event(event):
        streamed.append((time.time(), event))
        return True

    def on_status(status, runner_config):
        statuses.append((time.time(), status))

    started = time.time()
    runner = ansible_runner.run(
        private_data_dir=str(private_data_dir),
        project_dir=str(REPO),                  # AWX runs from the project checkout: its ansible.cfg applies
        playbook=str(playbook.relative_to(REPO)),
        inventory=[str(i) for i in inventory],
        extravars=extra,
        envvars=env,
        ident="job_%s" % job_id,
        quiet=True,
        event_handler=on_event,
        status_handler=on_status,
        timeout=timeout,
    )
    job = Job(runner, streamed, statuses, audit_path, started, time.time())
    print("runner job %s: %s rc=%s in %.1f s, %d events" % (playbook.name, job.status, job.rc, job.finished - started, len(streamed)))
    return job

