# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock: its record, its decisions (pure functions) and its protocol over SSM (LockStore).

The holder is the execution, not the digest: a run holds the lock when the record carries its execution id. Another
execution with the same digest (EventBridge delivering one push twice) is refused, unless it says on purpose that it
resumes that deployment (resume=true), which takes the lock over.

How it stays with one holder, over an API without compare-and-swap (SSM PutParameter has none):

* Fresh take: PutParameter(Overwrite=false) on the lock parameter. AWS creates a parameter once, so of any number
  of racing runs exactly one gets it; the others get ParameterAlreadyExists.
* Every change of an existing lock (renew, resume takeover, breaking a stale lock, force, release) is a
  read-decide-write under a second parameter, the claim `<name>.claim`, itself taken with PutParameter(Overwrite=false)
  and deleted right after. Only the run holding the claim reads the lock, decides on the exact value it read and
  writes (Overwrite=true) or deletes it; the other runs wait for the claim (bounded) and then decide on what the
  winner left, so of four runs breaking one stale lock one breaks it and three find a fresh lock and are refused.
  A fresh take (Overwrite=false) needs no claim: it can only win while no lock exists, and a release deletes the lock
  under the claim only after re-reading that the caller still holds it.
* Window, stated honestly: a claim whose writer died (killed between taking and deleting it, a few seconds) blocks
  changes until it expires (CLAIM_TTL seconds); then it is deleted by the next run without a condition (SSM has
  none), so two runs that both find the same expired claim at the same instant could both delete it and, if a third
  takes a new claim in between, remove that one. That needs a crashed claimer plus three runs within milliseconds.
  Reads are assumed strongly consistent after a write (GetParameter of the latest version).
* Renew and release by the holder, without the claim (2 calls: read, then overwrite / delete): when the record read
  carries this execution id and its expiry is more than CLAIM_TTL seconds away (holder_fast_path()), no honest writer
  may change it before our write lands. A fresh take cannot (the parameter exists), breaking needs the lock stale
  (expires_at passed, and it is CLAIM_TTL away - far beyond the read-write's < 1 s), a foreign release or renew is
  refused (not theirs), and the claim protocol's own writers decide on what they read, which is ours and not stale.
  Only a deliberate takeover (force=true, or resume=true of the same digest) may land between our read and our write;
  then one of the two runs is stopped at its next renew (lock lost, or absent), which is what such a takeover of a
  live run means anyway. Everything else - a take of an existing record, a stale or near-expiry lock, another
  execution's lock, force - keeps the claim.
"""

import json
import random
import re
import time
import uuid

# What classify() says about an existing lock, for a run that wants it.
HELD_BY_US = "held_by_us"        # the record carries this execution id
RESUMABLE = "resumable"          # same digest, and the caller asked to resume (resume=true): taken over
SAME_DIGEST = "same_digest"      # same digest, another execution, no resume: refused (a duplicate run)
STALE = "stale"                  # another execution's lock, past its expiry
BUSY = "busy"                    # another execution's lock, still valid

CLAIM_SUFFIX = ".claim"
CLAIM_TTL = 30                   # seconds a claim is honoured; the read-decide-write it guards takes < 1 s
CLAIM_WAIT = 20                  # seconds a run waits for another's claim before giving up


class LockRefused(Exception):
    """The lock cannot be taken, renewed or released by this caller; message says who holds it and what to do."""

    def __init__(self, msg, holder=None, lock_state=None):
        super(LockRefused, self).__init__(msg)
        self.msg = msg
        self.holder = holder or {}
        self.lock_state = lock_state


NAME_PATTERN = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
EXECUTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,128}$")


def check_inputs(params):
    """The first problem with a deploy_lock call's inputs, naming the input, or None."""
    name = params.get("name") or ""
    if not NAME_PATTERN.match(name) or "//" in name or len(name) > 1011 - len(CLAIM_SUFFIX):
        return ("name %r is not a usable SSM parameter path: it must start with '/', hold only letters, digits and "
                "_.-/ and be at most %d characters" % (name, 1011 - len(CLAIM_SUFFIX)))
    if name.split("/")[1].lower().startswith(("aws", "ssm")):
        return "name %r is not allowed: SSM reserves paths beginning with aws or ssm" % name
    if not EXECUTION_ID_PATTERN.match(params.get("execution_id") or ""):
        return ("execution_id %r is not allowed: 1-128 letters, digits and _.:@+=-" % (params.get("execution_id"),))
    ttl = params.get("ttl_seconds")
    if ttl is None or int(ttl) <= 0 or int(ttl) > 7 * 86400:
        return "ttl_seconds must be between 1 and 604800 (a week), got %s" % ttl
    return None


def make_record(execution_id, owner, digest, service, now, ttl_seconds, nonce=None):
    return dict(execution_id=execution_id, owner=owner, digest=digest, service=service,
                acquired_at=int(now), expires_at=int(now + ttl_seconds), nonce=nonce or uuid.uuid4().hex,
                deployment_started_at=int(now))


def carry_deployment_start(record, existing):
    """A take of a lock deploying the same digest continues that deployment: it keeps when it began (the last time
    live served everything, which a resumed run's baseline must end at), whoever takes it."""
    if existing and record.get("digest") and existing.get("digest") == record["digest"]:
        began = existing.get("deployment_started_at", existing.get("acquired_at"))
        if began is not None:
            return dict(record, deployment_started_at=int(began))
    return record


def encode(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def decode(value):
    """The record in a parameter's value; a value that is not ours decodes to an empty record."""
    try:
        record = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def classify(existing, execution_id, digest, now, resume=False):
    """How an existing lock relates to a run (execution_id, digest) that wants it."""
    if existing.get("execution_id") == execution_id:
        return HELD_BY_US
    if resume and digest and existing.get("digest") == digest:
        return RESUMABLE
    if int(existing.get("expires_at", 0)) <= now:
        return STALE
    if digest and existing.get("digest") == digest:
        return SAME_DIGEST
    return BUSY


def take_decision(kind, break_stale=False, force=False):
    """(outcome, hint): outcome is what a take does with a lock of this kind, None when it is refused."""
    if kind == HELD_BY_US:
        return "renewed", None
    if kind == RESUMABLE:
        return "resumed", None
    if force:
        return "forced", None
    if kind == STALE:
        if break_stale:
            return "broken", None
        return None, "break it with break_stale=true"
    if kind == SAME_DIGEST:
        hint = "the same image is being deployed by that execution; "
        return None, hint + "rerun that execution (same execution id) or resume it on purpose with resume=true"
    return None, "wait for it, or roll it back / release it first"


def describe_holder(existing, now):
    """`execution 42 (alice), deploying sha256:…, held 5m 3s, expires in 24m` — for refusal messages."""
    age = max(0, int(now) - int(existing.get("acquired_at", now)))
    expires = int(existing.get("expires_at", now)) - int(now)
    return "execution %s (%s), deploying %s, held %s, %s" % (
        existing.get("execution_id", "?"), existing.get("owner", "?"), existing.get("digest", "?"),
        human_duration(age), ("expires in %s" % human_duration(expires)) if expires > 0 else ("expired %s ago" % human_duration(-expires)))


def human_duration(seconds):
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%dh %dm" % (hours, minutes)
    if minutes:
        return "%dm %ds" % (minutes, secs)
    return "%ds" % secs


def holder_fast_path(existing, execution_id, now, margin=None):
    """True when a renew / release of `existing` by `execution_id` needs no claim: the record is this execution's and
    expires more than `margin` (default CLAIM_TTL) seconds from `now` (see the module docstring)."""
    margin = CLAIM_TTL if margin is None else margin
    return bool(existing) and existing.get("execution_id") == execution_id \
        and int(existing.get("expires_at", 0)) > int(now) + int(margin)


def step_ttl(watch_seconds, extension_seconds=0, margin_seconds=300, floor_seconds=0):
    """A lock TTL covering one traffic step: the longest watch, its extension, a margin; at least floor_seconds
    (e.g. the green deployment's budget, which runs between taking the lock and the first heartbeat)."""
    longest = max([int(w) for w in watch_seconds] or [0])
    return max(longest + int(extension_seconds or 0), int(floor_seconds or 0)) + int(margin_seconds)


def error_code(exc):
    return (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")


class LockStore(object):
    """The lock's protocol over an SSM client (a boto3 client; `retry=True` for amazon.aws's retrying wrapper)."""

    def __init__(self, ssm, name, retry=False, clock=time.time, sleep=time.sleep):
        self.ssm, self.name, self.clock, self.sleep = ssm, name, clock, sleep
        self.kw = {"aws_retry": True} if retry else {}
        self.claim_name = name + CLAIM_SUFFIX

    # -- raw SSM
    def read(self, name=None):
        try:
            return decode(self.ssm.get_parameter(Name=name or self.name, **self.kw)["Parameter"]["Value"])
        except Exception as e:  # pylint: disable=broad-except
            if error_code(e) == "ParameterNotFound":
                return None
            raise

    def _create(self, name, record):
        """True when this call created the parameter (Overwrite=false), False when it existed."""
        try:
            self.ssm.put_parameter(Name=name, Value=encode(record), Type="String", Overwrite=False,
                                   Description="progressive.delivery deployment lock", **self.kw)
            return True
        except Exception as e:  # pylint: disable=broad-except
            if error_code(e) == "ParameterAlreadyExists":
                return False
            raise

    def _overwrite(self, record):
        self.ssm.put_parameter(Name=self.name, Value=encode(record), Type="String", Overwrite=True,
                               Description="progressive.delivery deployment lock", **self.kw)

    def _delete(self, name):
        try:
            self.ssm.delete_parameter(Name=name, **self.kw)
        except Exception as e:  # pylint: disable=broad-except
            if error_code(e) != "ParameterNotFound":
                raise

    # -- the claim guarding every change of an existing lock
    def _claim(self, execution_id):
        deadline = self.clock() + CLAIM_WAIT
        token = uuid.uuid4().hex
        while True:
            now = self.clock()
            if self._create(self.claim_name, dict(execution_id=execution_id, token=token, expires_at=int(now + CLAIM_TTL))):
                return token
            held = self.read(self.claim_name)
            if held is not None and int(held.get("expires_at", 0)) < now:
                self._delete(self.claim_name)      # its writer died; see the module docstring for the window
                continue
            if now >= deadline:
                raise LockRefused("deployment lock %s is being changed by execution %s (claim %s) for more than %ds; "
                                  "retry, or delete %s if that run died" % (
                                      self.name, (held or {}).get("execution_id", "?"), self.claim_name, CLAIM_WAIT,
                                      self.claim_name), lock_state="claimed")
            self.sleep(0.05 + random.random() * 0.25)

    def _unclaim(self, token):
        held = self.read(self.claim_name)
        if held is not None and held.get("token") == token:
            self._delete(self.claim_name)

    def _guarded(self, execution_id, change):
        token = self._claim(execution_id)
        try:
            return change()
        finally:
            self._unclaim(token)

    # -- operations; each returns (outcome, record now, previous record) or raises LockRefused
    def take(self, execution_id, owner, digest, service, ttl_seconds, break_stale=False, force=False, resume=False,
             check_mode=False):
        record = make_record(execution_id, owner, digest, service, self.clock(), ttl_seconds)
        if check_mode:
            existing = self.read()
            if existing is None:
                return "acquired", record, None
            return self._decide_take(existing, record, break_stale, force, resume) + (existing,)
        if self._create(self.name, record):
            return "acquired", record, None

        def change():
            existing = self.read()
            if existing is None:             # released meanwhile: a fresh take, still Overwrite=false
                if self._create(self.name, record):
                    return "acquired", record, None
                existing = self.read() or {}
            outcome, new = self._decide_take(existing, record, break_stale, force, resume)
            if new != existing:
                self._overwrite(new)
            return outcome, new, existing
        return self._guarded(execution_id, change)

    def _decide_take(self, existing, record, break_stale, force, resume):
        now = self.clock()
        kind = classify(existing, record["execution_id"], record["digest"], now, resume)
        outcome, hint = take_decision(kind, break_stale, force)
        if outcome is None:
            raise LockRefused("deployment lock %s is held by %s; %s" % (self.name, describe_holder(existing, now), hint),
                              holder=existing, lock_state=kind)
        record = carry_deployment_start(record, existing)
        if kind == HELD_BY_US:
            # Already ours: keep when it was taken and its nonce, extend the expiry.
            record = dict(record, acquired_at=existing.get("acquired_at", record["acquired_at"]),
                          nonce=existing.get("nonce", record["nonce"]))
        return outcome, record

    def renew(self, execution_id, ttl_seconds, check_mode=False):
        """Extend the expiry to now + ttl_seconds, only while this execution holds the lock."""
        def change(existing=None, read=True):
            if read:
                existing = self.read()
            now = self.clock()
            if existing is None:
                raise LockRefused("deployment lock %s is not held (released, or broken and released); execution %s "
                                  "cannot renew it: stop, the deployment is no longer protected" % (self.name, execution_id),
                                  lock_state="absent")
            if existing.get("execution_id") != execution_id:
                raise LockRefused("deployment lock %s is held by %s, not by execution %s: stop, another run took it over" % (
                    self.name, describe_holder(existing, now), execution_id), holder=existing, lock_state="lost")
            new = dict(existing, expires_at=int(now + ttl_seconds))
            if not check_mode:
                self._overwrite(new)
            return "renewed", new, existing
        existing = self.read()
        if check_mode or existing is None or existing.get("execution_id") != execution_id \
                or holder_fast_path(existing, execution_id, self.clock()):
            return change(existing, read=False)
        return self._guarded(execution_id, change)

    def release(self, execution_id, force=False, check_mode=False):
        def change(existing=None, read=True):
            if read:
                existing = self.read()
            if existing is None:
                return "absent", {}, None
            if existing.get("execution_id") != execution_id and not force:
                raise LockRefused("deployment lock %s is held by %s, not by execution %s; release it with force=true" % (
                    self.name, describe_holder(existing, self.clock()), execution_id), holder=existing, lock_state="not_ours")
            if not check_mode:
                self._delete(self.name)
            return "released", existing, existing
        existing = self.read()
        if check_mode or existing is None or holder_fast_path(existing, execution_id, self.clock()) \
                or (existing.get("execution_id") != execution_id and not force):
            return change(existing, read=False)
        return self._guarded(execution_id, change)
