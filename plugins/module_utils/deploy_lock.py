# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment lock's record and decisions, as pure functions.

The lock is an SSM parameter created with Overwrite=False, so exactly one of two racing
runs creates it. Its value is a JSON record of who holds it, for what, and until when.
"""

import json

# What acquire() decides when the parameter already exists.
HELD_BY_US = "held_by_us"        # same execution, or the same deployment (same digest) resumed by a rerun
STALE = "stale"                  # another deployment's lock, past its expiry
BUSY = "busy"                    # another deployment's lock, still valid


def make_record(execution_id, owner, digest, service, now, ttl_seconds):
    return dict(execution_id=execution_id, owner=owner, digest=digest, service=service,
                acquired_at=int(now), expires_at=int(now + ttl_seconds))


def encode(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def decode(value):
    """The record in a parameter's value; a value that is not ours decodes to an empty record."""
    try:
        record = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def classify(existing, execution_id, digest, now):
    """How an existing lock relates to a run that wants it."""
    if existing.get("execution_id") == execution_id:
        return HELD_BY_US
    if digest and existing.get("digest") == digest:
        return HELD_BY_US
    if int(existing.get("expires_at", 0)) <= now:
        return STALE
    return BUSY


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
