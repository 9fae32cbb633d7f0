# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
name: deployment_audit
type: aggregate
version_added: 0.1.0
short_description: Audit trail of deployments - JSON lines to a file and optionally to CloudWatch Logs
description:
  - Writes one JSON record per deployment step, plus one when the playbook starts, one per failed task and one
    when the playbook ends.
  - A step record is written whenever a task result's C(ansible_facts) contain C(deployment_audit_event), which the
    collection's roles set with M(ansible.builtin.set_fact) (keys such as C(phase), C(decision), C(step),
    C(metrics), C(reason), C(inputs), C(execution_id)).
  - "Every record has: C(time) (UTC, ISO 8601), C(record) (C(playbook_start), C(step), C(task_failed),
    C(playbook_end)), C(execution_id), C(run_id), C(who), C(playbook), C(inputs) (the run's extra variables and the
    event's C(inputs), secrets removed), and for steps C(host), C(task), C(phase), C(decision), C(step), C(metrics),
    C(reason) and C(details) (the rest of the event, secrets removed). An event's C(percent) stands in for a missing
    C(step) and its C(summary) for a missing C(reason)."
  - "Execution id: AWX's job id when present (environment C(JOB_ID) or C(AWX_JOB_ID), extra variable C(awx_job_id)
    or C(tower_job_id)), else the C(execution_id) of the latest event, else the run id minted once per run."
  - "Who: AWX's C(awx_user_name) / C(tower_user_name) extra variable, else the local user."
  - Secrets are removed, not masked - keys matching O(redact_pattern) are dropped (their names are listed in the
    record's C(redacted)), vault-encrypted values are dropped, and results of C(no_log) tasks are never read. In
    ECS's list form C([{name, value}]) a secret-looking C(name) masks its C(value).
  - Secrets are also removed by value, anywhere in a record (lists and messages included) - every value seen under a
    key matching O(redact_pattern) in the extra variables, the play's and inventory's variables, the arguments of
    C(no_log) tasks (tokens, passwords, C(Authorization) headers) and the events, once at least 6 characters long,
    is replaced by C(********).
  - Shipping to CloudWatch Logs is optional; a failure to ship is a warning and never fails the run (the file keeps
    every record).
author:
  - progressive.delivery maintainers (@progressive-delivery)
requirements:
  - Enabled with C(callbacks_enabled = progressive.delivery.deployment_audit) in C(ansible.cfg) or
    C(ANSIBLE_CALLBACKS_ENABLED).
  - boto3, only for CloudWatch Logs.
options:
  path:
    description:
      - File the JSON lines are appended to. The directory is created when missing.
      - An existing directory means C(<directory>/<YYYY-MM-DD>.jsonl) (UTC date of the run's start).
      - Empty means C(~/.ansible/deployment-audit/<YYYY-MM-DD>.jsonl).
    type: str
    default: ""
    env:
      - name: DEPLOYMENT_AUDIT_FILE
    ini:
      - section: callback_deployment_audit
        key: path
  redact_pattern:
    description: Regular expression (case-insensitive, searched) of key names whose values never reach a record.
    type: str
    default: "passw(or)?d|passphrase|(^|[_-])pass($|[_-])|token|secret|credential|private|(^|[_-])(api_?)?key($|[_-])|apikey|authorization|cookie|webhook_url"
    env:
      - name: DEPLOYMENT_AUDIT_REDACT_PATTERN
    ini:
      - section: callback_deployment_audit
        key: redact_pattern
  cloudwatch_log_group:
    description: CloudWatch Logs group to ship records to; empty ships nothing. The group must exist.
    type: str
    default: ""
    env:
      - name: DEPLOYMENT_AUDIT_LOG_GROUP
    ini:
      - section: callback_deployment_audit
        key: cloudwatch_log_group
  cloudwatch_log_stream:
    description: Log stream, created when missing; empty means C(<YYYY-MM-DD>/<run id>).
    type: str
    default: ""
    env:
      - name: DEPLOYMENT_AUDIT_LOG_STREAM
    ini:
      - section: callback_deployment_audit
        key: cloudwatch_log_stream
  cloudwatch_region:
    description: AWS region of the log group; empty uses the standard AWS configuration (C(AWS_REGION), profile).
    type: str
    default: ""
    env:
      - name: DEPLOYMENT_AUDIT_REGION
    ini:
      - section: callback_deployment_audit
        key: cloudwatch_region
  cloudwatch_endpoint_url:
    description: CloudWatch Logs endpoint, for a local AWS (moto, the lab); empty uses AWS's.
    type: str
    default: ""
    env:
      - name: DEPLOYMENT_AUDIT_ENDPOINT_URL
    ini:
      - section: callback_deployment_audit
        key: cloudwatch_endpoint_url
  cloudwatch_profile:
    description: AWS profile for CloudWatch Logs; empty uses the default credential chain.
    type: str
    default: ""
    env:
      - name: DEPLOYMENT_AUDIT_PROFILE
    ini:
      - section: callback_deployment_audit
        key: cloudwatch_profile
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = progressive.delivery.deployment_audit
#
# [callback_deployment_audit]
# path = /var/log/deployments/audit.jsonl
# cloudwatch_log_group = /deployments/audit
# cloudwatch_region = us-east-1

# A role records a step:
- name: Record the step in the audit trail
  ansible.builtin.set_fact:
    deployment_audit_event:
      execution_id: "{{ ecs_bg_plan.execution_id }}"
      phase: shift
      step: 10
      decision: fail
      reason: "critical metric failed: error_rate"
      metrics: "{{ comparison.metrics }}"
"""

import datetime
import getpass
import json
import math
import os
import random
import re
import time
import uuid

from ansible.plugins.callback import CallbackBase

try:
    import boto3
    import botocore.config
except ImportError:
    boto3 = None

EVENT_FACT = "deployment_audit_event"
AWX_JOB_ENV = ("JOB_ID", "AWX_JOB_ID")
AWX_JOB_VARS = ("awx_job_id", "tower_job_id")
AWX_USER_VARS = ("awx_user_name", "tower_user_name")
STEP_FIELDS = ("phase", "decision", "step", "metrics", "reason")
ENCRYPTED_TYPES = ("AnsibleVaultEncryptedUnicode", "EncryptedString", "VaultExceptionMarker")
MAX_DEPTH = 20
# Keep in step with the redact_pattern default in DOCUMENTATION (a unit test checks).
DEFAULT_PATTERN = ("passw(or)?d|passphrase|(^|[_-])pass($|[_-])|token|secret|credential|private|(^|[_-])(api_?)?key($|[_-])|apikey"
                   "|authorization|cookie|webhook_url")


# --- pure parts (unit-tested) -----------------------------------------------------------------

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def mint_run_id(moment=None):
    moment = moment or utc_now()
    return "pd-%s-%s" % (moment.strftime("%Y%m%dT%H%M%SZ"), uuid.uuid4().hex[:8])


def plain(value, depth=0):
    """A JSON-safe copy: dicts, lists, str, int, float, bool, None; everything else as its text.

    Vault-encrypted values become None (they are dropped by redact); depth is bounded.
    """
    if type(value).__name__ in ENCRYPTED_TYPES:
        return None
    if depth > MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        return dict((str(k), plain(v, depth + 1)) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


MASK = "********"
MIN_SECRET_LENGTH = 6   # shorter values are not scrubbed by value (they would mangle ordinary text); keys still are


def collect_secrets(value, pattern, found, depth=0):
    """Add to `found` every string value held under a key matching `pattern`, and every `value` of a `{name, value}`
    pair whose name matches (ECS's environment list form), at any depth."""
    if depth > MAX_DEPTH:
        return found
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and pattern.search(value["name"]) and "value" in value:
            _add_secret(value["value"], found)
        for key, item in value.items():
            if pattern.search(str(key)):
                _add_secret(item, found)
            else:
                collect_secrets(item, pattern, found, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            collect_secrets(item, pattern, found, depth + 1)
    return found


def _add_secret(value, found):
    if isinstance(value, (dict, list, tuple)):
        for item in (value.values() if isinstance(value, dict) else value):
            _add_secret(item, found)
    elif value is not None and not isinstance(value, bool) and type(value).__name__ not in ENCRYPTED_TYPES:
        text = str(value)
        if len(text) >= MIN_SECRET_LENGTH:
            found.add(text)
            for word in text.split():           # "Bearer <token>": the token alone, too
                if len(word) >= MIN_SECRET_LENGTH and word.lower() not in ("bearer", "basic", "token"):
                    found.add(word)


def scrub(value, secrets):
    """`value` with every known secret value replaced by MASK inside any string, lists and dict keys included."""
    if not secrets:
        return value
    if isinstance(value, dict):
        return dict((scrub(str(k), secrets), scrub(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    return value


def redact(value, pattern, dropped=None, prefix=""):
    """`value` without keys matching `pattern` (compiled regex) and without vault-encrypted values, at any depth;
    the `value` of a `{name, value}` pair whose name matches (ECS's environment list form) is masked.

    Dropped keys' dotted paths are appended to `dropped`.
    """
    if dropped is None:
        dropped = []
    if type(value).__name__ in ENCRYPTED_TYPES:
        return None
    if isinstance(value, dict):
        out = {}
        if isinstance(value.get("name"), str) and pattern.search(value["name"]) and "value" in value:
            value = dict(value, value=MASK)
            dropped.append("%s%s" % (prefix, "value"))
        for key, item in value.items():
            path = "%s%s" % (prefix, key)
            if pattern.search(str(key)) or type(item).__name__ in ENCRYPTED_TYPES:
                dropped.append(path)
                continue
            out[str(key)] = redact(item, pattern, dropped, path + ".")
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, pattern, dropped, "%s%d." % (prefix, i)) for i, item in enumerate(value)]
    return value


def job_id_from(environ, extra_vars):
    """AWX's job id: env JOB_ID / AWX_JOB_ID, else extra var awx_job_id / tower_job_id, else ''."""
    for name in AWX_JOB_ENV:
        if str(environ.get(name) or "").strip():
            return str(environ[name]).strip()
    for name in AWX_JOB_VARS:
        if str((extra_vars or {}).get(name) or "").strip():
            return str(extra_vars[name]).strip()
    return ""


def who_from(extra_vars, local_user):
    for name in AWX_USER_VARS:
        if str((extra_vars or {}).get(name) or "").strip():
            return str(extra_vars[name]).strip()
    return local_user


def execution_id_for(job_id, event_execution_id, last_execution_id, run_id):
    """AWX's job id, else the event's, else the last one an event gave, else the run id."""
    for candidate in (job_id, event_execution_id, last_execution_id, run_id):
        if str(candidate or "").strip():
            return str(candidate).strip()
    return run_id


def build_record(kind, context, pattern, event=None, moment=None, **fields):
    """One audit record.

    context: run_id, job_id, who, playbook, inputs (raw extra vars), last_execution_id.
    event: the deployment_audit_event dict (step records).
    fields: anything else for the record (host, task, stats ...), JSON-safe already.
    """
    event = plain(event or {})
    if not isinstance(event, dict):
        event = {"value": event}
    dropped = []
    inputs = redact(plain(context.get("inputs") or {}), pattern, dropped, "inputs.")
    event_inputs = event.pop("inputs", None)
    if isinstance(event_inputs, dict):
        inputs.update(redact(event_inputs, pattern, dropped, "inputs."))
    record = {
        "time": iso(moment or utc_now()),
        "record": kind,
        "execution_id": execution_id_for(context.get("job_id"), event.get("execution_id"),
                                         context.get("last_execution_id"), context.get("run_id")),
        "run_id": context.get("run_id"),
        "who": context.get("who"),
        "playbook": context.get("playbook"),
        "inputs": inputs,
    }
    if context.get("job_id"):
        record["awx_job_id"] = context["job_id"]
    if kind == "step":
        # Traffic steps say `percent` and `summary` (cw_compare's words) where other phases say `step` and `reason`.
        if event.get("step") is None and event.get("percent") is not None:
            event["step"] = event.pop("percent")
        if not event.get("reason") and event.get("summary"):
            event["reason"] = event.pop("summary")
        for name in STEP_FIELDS:
            record[name] = redact(event.get(name), pattern, dropped, name + ".")
        details = dict((k, v) for k, v in event.items() if k not in STEP_FIELDS and k != "execution_id")
        record["details"] = redact(details, pattern, dropped, "details.")
        if event.get("execution_id") and str(event["execution_id"]) != record["execution_id"]:
            record["event_execution_id"] = str(event["execution_id"])
    for key, value in fields.items():
        record[key] = redact(plain(value), pattern, dropped, key + ".")
    if dropped:
        record["redacted"] = sorted(set(dropped))
    secrets = set(context.get("secrets") or ())
    collect_secrets(plain(context.get("inputs") or {}), pattern, secrets)
    collect_secrets(event, pattern, secrets)
    return scrub(record, secrets)


def events_in(result):
    """deployment_audit_event dicts in a task result (a plain result or a loop's `results`), unless no_log."""
    if not isinstance(result, dict) or result.get("_ansible_no_log") or "censored" in result:
        return []
    facts = result.get("ansible_facts") or {}
    if isinstance(facts, dict) and isinstance(facts.get(EVENT_FACT), dict):
        return [facts[EVENT_FACT]]
    found = []
    for item in result.get("results") or []:
        if isinstance(item, dict) and not item.get("_ansible_no_log") and "censored" not in item:
            item_facts = item.get("ansible_facts") or {}
            if isinstance(item_facts, dict) and isinstance(item_facts.get(EVENT_FACT), dict):
                found.append(item_facts[EVENT_FACT])
    return found


def default_path(home, moment):
    return os.path.join(home, ".ansible", "deployment-audit", "%s.jsonl" % moment.strftime("%Y-%m-%d"))


def audit_file_path(option, home, moment, isdir=os.path.isdir):
    """The file to append to: the option, a date-named file in it when it is a directory, or the default under home."""
    option = str(option or "").strip()
    if not option:
        return default_path(home, moment)
    path = os.path.expanduser(option)
    if isdir(path):
        return os.path.join(path, "%s.jsonl" % moment.strftime("%Y-%m-%d"))
    return path


def to_json_line(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str) + "\n"


# --- the callback ------------------------------------------------------------------------------

def _result_of(task_result):
    return getattr(task_result, "result", None) if hasattr(type(task_result), "result") else task_result._result


def _task_of(task_result):
    return getattr(task_result, "task", None) if hasattr(type(task_result), "task") else task_result._task


def _host_of(task_result):
    return getattr(task_result, "host", None) if hasattr(type(task_result), "host") else task_result._host


class CloudWatchShipper(object):
    """put_log_events in order; the stream is created on first use.

    A failed put (throttled, 5xx, the endpoint away ...) does not stop shipping: the record stays buffered (at most
    MAX_BUFFERED, oldest dropped first and counted), the shipper waits a jittered, growing pause (RETRY_BASE_S doubling
    to RETRY_CAP_S) and ships the whole buffer, in order, with the next record after that; the run's last record
    (playbook_end) is always tried at once. One warning when shipping first fails, one when it recovers, and one at
    the end if records are still unshipped (the file keeps every record). Only a missing boto3 or a client that
    cannot be built stops shipping for the run."""

    MAX_BUFFERED = 10000
    MAX_BATCH = 1000           # put_log_events takes 10,000 events / 1 MiB; audit records are small
    RETRY_BASE_S = 2.0
    RETRY_CAP_S = 60.0

    def __init__(self, group, stream, region, endpoint_url, profile, warn, clock=time.time, rand=None):
        self.group, self.stream, self.warn = group, stream, warn
        self.clock = clock
        self.rand = rand or random.random
        self.client = None
        self.broken = False
        self.buffer = []
        self.failures = 0
        self.retry_at = 0.0
        self.dropped = 0
        self.shipped = 0
        self.stream_ready = False
        if boto3 is None:
            self._give_up("boto3 is not installed")
            return
        try:
            session = boto3.session.Session(profile_name=profile or None, region_name=region or None)
            self.client = session.client(
                "logs", endpoint_url=endpoint_url or None,
                config=botocore.config.Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}))
        except Exception as e:  # pylint: disable=broad-except
            self._give_up(e)

    def _give_up(self, error):
        self.broken = True
        self.warn("deployment_audit: not shipping to CloudWatch Logs group %s stream %s: %s (the file keeps every record)"
                  % (self.group, self.stream, error))

    def ship(self, record):
        if self.broken:
            return
        self.buffer.append({"timestamp": int(self.clock() * 1000), "message": to_json_line(record).rstrip("\n")})
        if len(self.buffer) > self.MAX_BUFFERED:
            self.dropped += len(self.buffer) - self.MAX_BUFFERED
            del self.buffer[:len(self.buffer) - self.MAX_BUFFERED]
        final = record.get("record") == "playbook_end"
        if self.clock() < self.retry_at and not final:
            return
        self.flush()
        if final and self.buffer:
            self.warn("deployment_audit: %d record(s) not shipped to CloudWatch Logs group %s stream %s after %d failed "
                      "attempt(s) (the file keeps every record)" % (len(self.buffer), self.group, self.stream, self.failures))

    def flush(self):
        """Put every buffered record, oldest first; on an error keep the rest and schedule the next try."""
        try:
            if not self.stream_ready:
                try:
                    self.client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                except self.client.exceptions.ResourceAlreadyExistsException:
                    pass
                self.stream_ready = True
            while self.buffer:
                batch = self.buffer[:self.MAX_BATCH]
                self.client.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
                del self.buffer[:len(batch)]
                self.shipped += len(batch)
        except Exception as e:  # pylint: disable=broad-except
            self.failures += 1
            pause = min(self.RETRY_CAP_S, self.RETRY_BASE_S * 2 ** (self.failures - 1))
            self.retry_at = self.clock() + pause * (0.5 + 0.5 * self.rand())
            if self.failures == 1:
                self.warn("deployment_audit: shipping to CloudWatch Logs group %s stream %s failed (%s); "
                          "records are buffered and shipped again later (the file keeps every record)" % (self.group, self.stream, e))
            return False
        if self.failures:
            self.warn("deployment_audit: shipping to CloudWatch Logs group %s stream %s works again after %d failed "
                      "attempt(s)%s" % (self.group, self.stream, self.failures,
                                        "; %d oldest record(s) dropped from the buffer" % self.dropped if self.dropped else ""))
            self.failures = 0
            self.retry_at = 0.0
        return True


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "progressive.delivery.deployment_audit"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.started = utc_now()
        self.context = {
            "run_id": mint_run_id(self.started),
            "job_id": job_id_from(os.environ, {}),
            "who": self._local_user(),
            "playbook": None,
            "inputs": {},
            "last_execution_id": "",
            "secrets": set(),
        }
        self.pattern = None
        self.path = None
        self.shipper = None
        self.start_written = False
        self.file_broken = False

    @staticmethod
    def _local_user():
        try:
            return getpass.getuser()
        except Exception:  # pylint: disable=broad-except
            return str(os.getuid()) if hasattr(os, "getuid") else "unknown"

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        try:
            self.pattern = re.compile(self.get_option("redact_pattern"), re.IGNORECASE)
        except re.error as e:
            self._display.warning("deployment_audit: redact_pattern is not a valid regular expression (%s); using the default" % e)
            self.pattern = re.compile(DEFAULT_PATTERN, re.IGNORECASE)
        self.path = audit_file_path(self.get_option("path"), os.path.expanduser("~"), self.started)
        group = self.get_option("cloudwatch_log_group")
        if group:
            stream = self.get_option("cloudwatch_log_stream") or "%s/%s" % (self.started.strftime("%Y-%m-%d"), self.context["run_id"])
            self.shipper = CloudWatchShipper(group, stream, self.get_option("cloudwatch_region"),
                                             self.get_option("cloudwatch_endpoint_url"), self.get_option("cloudwatch_profile"),
                                             self._display.warning)

    def _write(self, kind, event=None, **fields):
        if self.pattern is None:
            self.set_options()
        record = build_record(kind, self.context, self.pattern, event=event, **fields)
        if not self.file_broken:
            try:
                directory = os.path.dirname(self.path)
                if directory and not os.path.isdir(directory):
                    os.makedirs(directory, mode=0o700)
                with open(self.path, "a") as audit_file:
                    audit_file.write(to_json_line(record))
            except (IOError, OSError) as e:
                self.file_broken = True
                self._display.warning("deployment_audit: cannot write %s: %s" % (self.path, e))
        if self.shipper is not None:
            self.shipper.ship(record)
        return record

    # playbook start: written at the first play, once extra vars (AWX's job id and user) are known
    def v2_playbook_on_start(self, playbook):
        self.context["playbook"] = getattr(playbook, "_file_name", None)

    def v2_playbook_on_play_start(self, play):
        if self.start_written:
            return
        self.start_written = True
        extra_vars = {}
        try:
            extra_vars = dict(play.get_variable_manager().extra_vars or {})
        except Exception:  # pylint: disable=broad-except
            pass
        self.context["inputs"] = extra_vars
        if self.pattern is None:
            self.set_options()
        collect_secrets(plain(extra_vars), self.pattern, self.context["secrets"])
        self._collect_play_secrets(play)
        self.context["job_id"] = job_id_from(os.environ, extra_vars)
        self.context["who"] = who_from(extra_vars, self.context["who"])
        self._write("playbook_start", play=play.get_name())

    def _learn_secrets(self, task_result):
        """Values a no_log task was given under secret-looking keys (tokens, passwords, Authorization headers ...):
        remembered, so they are scrubbed from every later record wherever they appear."""
        if self.pattern is None:
            self.set_options()
        fields = getattr(task_result, "_task_fields", None) or {}
        task = _task_of(task_result)
        no_log = fields.get("no_log") if "no_log" in fields else getattr(task, "no_log", False)
        args = fields.get("args") if isinstance(fields.get("args"), dict) else {}
        if no_log or _result_of(task_result).get("_ansible_no_log"):
            collect_secrets(plain(args), self.pattern, self.context["secrets"])

    def _collect_play_secrets(self, play):
        """Configured secrets: plain values of the play's and the inventory's variables under secret-looking names."""
        try:
            manager = play.get_variable_manager()
            hosts = manager._inventory.get_hosts(play.hosts)  # pylint: disable=protected-access
            sources = [play.get_vars()] + [manager.get_vars(play=play, host=h, include_hostvars=False) for h in hosts[:20]]
        except Exception:  # pylint: disable=broad-except
            return
        for variables in sources:
            for name, value in (variables or {}).items():
                if self.pattern.search(str(name)) and isinstance(value, str) and "{{" not in value:
                    _add_secret(value, self.context["secrets"])
                elif isinstance(value, (dict, list)):
                    collect_secrets(plain(value), self.pattern, self.context["secrets"])

    def _on_events(self, task_result):
        self._learn_secrets(task_result)
        result = _result_of(task_result)
        for event in events_in(result):
            record = self._write("step", event=event, host=_host_of(task_result).get_name(),
                                 task=_task_of(task_result).get_name())
            if event.get("execution_id"):
                self.context["last_execution_id"] = record.get("event_execution_id") or str(event["execution_id"])

    def v2_runner_on_ok(self, result):
        self._on_events(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._learn_secrets(result)
        raw = _result_of(result)
        censored = bool(raw.get("_ansible_no_log")) or "censored" in raw
        self._write("task_failed", host=_host_of(result).get_name(), task=_task_of(result).get_name(),
                    ignored=bool(ignore_errors),
                    msg="(no_log: output hidden)" if censored else str(raw.get("msg") or raw.get("stderr") or "")[:2000])

    def v2_runner_on_unreachable(self, result):
        raw = _result_of(result)
        self._write("task_failed", host=_host_of(result).get_name(), task=_task_of(result).get_name(),
                    unreachable=True, msg=str(raw.get("msg") or "")[:2000])

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        summary = dict((h, stats.summarize(h)) for h in hosts)
        failed = any(s.get("failures") or s.get("unreachable") for s in summary.values())
        self._write("playbook_end", decision="failed" if failed else "succeeded", stats=summary,
                    duration_seconds=round((utc_now() - self.started).total_seconds(), 3))
