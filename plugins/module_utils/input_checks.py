# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of user inputs, as pure functions: each returns a list of problems, each naming the input, empty when fine.

Used by modules (http_smoke) and, through the `input_problems` filters, by roles and playbooks before any AWS write.
"""

import ipaddress
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for sanity's import test
    from urlparse import urlsplit  # type: ignore

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Names the cloud metadata services answer on, besides their link-local addresses.
METADATA_HOSTS = ("metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal")
METADATA_ADDRESSES = ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
SYSTEMD_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def url_problems(name, url, allow_link_local=False):
    """Problems with a URL an operator gave in `name`: only http(s) with a host; no blanks or control characters;
    link-local and cloud metadata addresses only with allow_link_local (they reach credentials, not a service)."""
    if url is None or url == "":
        return []
    if not isinstance(url, str):
        return ["%s must be an http(s) URL string, got %s" % (name, type(url).__name__)]
    shown = _shown_url(url)
    if CONTROL_RE.search(url) or " " in url:
        return ["%s %s contains blanks or control characters" % (name, shown)]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # pylint: disable=pointless-statement  # raises ValueError on a bad port
    except ValueError as e:
        return ["%s %s is not a valid URL: %s" % (name, shown, e)]
    if parts.scheme not in ("http", "https"):
        return ["%s %s: only http:// and https:// URLs are allowed, not %s" % (name, shown, (parts.scheme or "a relative URL"))]
    if not host:
        return ["%s %s has no host" % (name, shown)]
    if allow_link_local:
        return []
    lowered = host.lower().rstrip(".")
    if lowered in METADATA_HOSTS:
        return ["%s %s points at a cloud metadata service (%s); set allow_link_local to allow it on purpose"
                % (name, shown, host)]
    try:
        address = ipaddress.ip_address(lowered)
    except ValueError:
        return []
    if address.is_link_local or str(address) in METADATA_ADDRESSES or (
            getattr(address, "ipv4_mapped", None) is not None and address.ipv4_mapped.is_link_local):
        return ["%s %s points at a link-local or metadata address (%s); set allow_link_local to allow it on purpose"
                % (name, shown, host)]
    return []


def _shown_url(url):
    """The URL without its path, query and credentials: webhook URLs carry tokens in the path."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return "%s://%s/..." % (parts.scheme, netloc) if parts.scheme and netloc else repr(url[:12] + "...")
    except ValueError:
        return repr(url[:12] + "...")


def urls_problems(urls, allow_link_local=False):
    """url_problems of every {input name: url} (empty URLs are not set, not checked)."""
    problems = []
    for name in sorted(urls or {}):
        problems += url_problems(name, urls[name], allow_link_local)
    return problems


def path_problems(name, path):
    """A URL path an operator gave (smoke-test paths): starts with /, stays on the host."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or "://" in path \
            or CONTROL_RE.search(path) or " " in path:
        return ["%s %r must be a path on the same host, starting with a single /, without blanks" % (name, path)]
    return []


def systemd_environment_problems(environment, name="vm_deploy_systemd_environment"):
    """Variables for a unit's Environment= lines: names [A-Za-z_][A-Za-z0-9_]*, values on one line (a newline would
    start a new directive in the unit file)."""
    if environment is None:
        return []
    if not isinstance(environment, dict):
        return ["%s must be a mapping of variable names to values" % name]
    problems = []
    for key in sorted(environment, key=str):
        value = environment[key]
        if not isinstance(key, str) or not SYSTEMD_ENV_NAME_RE.match(key):
            problems.append("%s: variable name %r is not allowed (letters, digits and _, not starting with a digit)"
                            % (name, key))
        if isinstance(value, (dict, list)):
            problems.append("%s[%s] must be a string or a number" % (name, key))
        elif CONTROL_RE.search(str(value)):
            problems.append("%s[%s] contains a newline or another control character, which would inject unit file "
                            "directives (value not shown)" % (name, key))
    return problems


def s3_location_problems(bucket, key, bucket_name="vm_deploy_s3_bucket", key_name="vm_deploy_s3_key"):
    """An S3 bucket name (as S3 names them, also used as a local cache directory) and an object key."""
    problems = []
    if bucket:
        if not isinstance(bucket, str) or not S3_BUCKET_RE.match(bucket) or ".." in bucket or ".-" in bucket \
                or "-." in bucket or re.match(r"^\d+\.\d+\.\d+\.\d+$", bucket) or bucket.startswith("xn--"):
            problems.append("%s %r is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-', starting and "
                            "ending with a letter or digit, no '..', not an IP address)" % (bucket_name, bucket))
    if key:
        segments = str(key).split("/")
        if not isinstance(key, str) or len(key) > 1024 or CONTROL_RE.search(key) or key.startswith("/") \
                or ".." in segments or "." in segments or segments[-1] in ("", ".", ".."):
            problems.append("%s %r is not an object key to download (no leading /, no . or .. segments, no control "
                            "characters, not ending with /)" % (key_name, key))
    return problems


EXECUTION_ID_RE = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,128}$")
LOCK_NAME_RE = re.compile(r"^/[A-Za-z0-9_.\-/]{1,1000}$")
RESERVED_LOCK_RE = re.compile(r"^/(aws|ssm)", re.IGNORECASE)


def session_problems(session_seconds, longest_seconds, name="aws_assume_role_duration"):
    """An assumed role's session must outlast, by a minute, the longest stretch of work one module run does on its
    credentials (a traffic step's watch and extensions, the rollout wait, a blocking hold): a module cannot take new
    credentials halfway. `session_seconds` None: no role is assumed."""
    if session_seconds is None or longest_seconds is None:
        return []
    session, longest = int(session_seconds), int(longest_seconds)
    if longest + 60 >= session:
        return ["%s %d s is too short: the run works up to %d s in one go on the same credentials (the longest traffic "
                "step with its extensions, the green rollout wait, a blocking hold) and needs a minute more - raise %s "
                "(up to the role's MaxSessionDuration) or shorten that work" % (name, session, longest, name)]
    return []


def deployment_input_problems(image_tag, image_tag_pattern, execution_id, lock_name, names=None):
    """Problems with a deployment's own inputs (ecs_validate's, before any AWS call): the image tag against the tag
    pattern (matched in full), the execution id (1-128 of [A-Za-z0-9_.:@+=-]) and the lock's SSM parameter path
    (/..., no //, not under /aws or /ssm). `names` renames the inputs in the messages ({image_tag, image_tag_pattern,
    execution_id, lock_name} -> the caller's variable names)."""
    n = dict(image_tag="ecs_validate_image_tag", image_tag_pattern="ecs_validate_image_tag_pattern",
             execution_id="ecs_validate_execution_id", lock_name="ecs_validate_lock_name", event="ecs_validate_ecr_event")
    n.update(names or {})
    problems = []
    tag = "" if image_tag is None else str(image_tag)
    try:
        matches = bool(tag) and re.match("(?:%s)\\Z" % image_tag_pattern, tag) is not None
    except (re.error, TypeError) as e:
        problems.append("%s %r is not a regular expression: %s" % (n["image_tag_pattern"], image_tag_pattern, e))
        matches = None
    if matches is False:
        problems.append("image tag %s is not allowed: it must match %s (set %s, or give an ECR push event in %s)"
                        % (_json(tag), image_tag_pattern, n["image_tag"], n["event"]))
    if not isinstance(execution_id, str) or not EXECUTION_ID_RE.match(execution_id):
        problems.append("%s %s is not allowed: 1-128 letters, digits and _.:@+=-" % (n["execution_id"], _json(execution_id)))
    if not isinstance(lock_name, str) or not LOCK_NAME_RE.match(lock_name) or "//" in lock_name \
            or RESERVED_LOCK_RE.match(lock_name):
        problems.append("%s %s is not an SSM parameter path: /, then letters, digits and _.-/, not under /aws or /ssm"
                        % (n["lock_name"], _json(lock_name)))
    return problems


def _json(value):
    import json
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def phases_argument_spec(own_spec, later_specs):
    """One argument spec (the `options` of a role entry point, as validate_argument_spec takes it) for a role's own
    inputs and those of the roles that run after it: `own_spec` as it is, each of `later_specs` (role argument_specs
    documents, their `main` entry point) without `required` - what a later role requires, the run hands it then (the
    plan); what a user set for it is checked now, before the first AWS call, not when its phase starts. An option in
    more than one spec keeps its first definition."""
    merged = dict(own_spec or {})
    for spec in later_specs or []:
        options = (((spec or {}).get("argument_specs") or {}).get("main") or {}).get("options") or {}
        for name, option in options.items():
            if name not in merged:
                merged[name] = dict((key, value) for key, value in (option or {}).items() if key != "required")
    return merged


def lock_ttl_seconds(watch_seconds, max_extensions=1, extension_seconds=0, floor_seconds=900, margin_seconds=300,
                     override_seconds=0):
    """The deployment lock's TTL: one traffic step - the longest watch plus its extensions (each
    `extension_seconds`, 0 meaning as long as the watch) - at least `floor_seconds` (the green deployment's budget,
    which runs before the first renewal), plus `margin_seconds`; `override_seconds` > 0 wins."""
    if int(override_seconds or 0) > 0:
        return int(override_seconds)
    longest = max([int(w) for w in watch_seconds] or [0])
    step = longest + int(max_extensions or 0) * (int(extension_seconds or 0) or longest)
    return max(step, int(floor_seconds or 0)) + int(margin_seconds or 0)


def deployment_state_problems(pushed, image, slots, cluster, lock_name, now, ecr_account_given=False):
    """Refusals of a deployment from what the reads found (ecs_validate, before any AWS write), first the most basic:
    the pushed image in another account's registry (unless ecs_validate_ecr_account names it), the pushed tag moved
    since the push, a slot service missing, another deployment in flight, the live service not steady or no room for
    the candidate. `pushed`: the ecr_push_event_inputs of the event ({} without one); `image`: ecr_image_verify's
    result; `slots`: ecs_slot_info's (with live_check when asked); `now`: epoch seconds. [] when it may go on."""
    pushed, image, slots = pushed or {}, image or {}, slots or {}
    problems = []
    if pushed and not ecr_account_given and image.get("registry_is_callers") is False:
        return ["the ECR push event comes from account %s, not the deploying account %s: set ecs_validate_ecr_account "
                "to deploy images pushed to another account's registry"
                % (pushed.get("account"), (image.get("caller") or {}).get("account"))]
    if pushed and image.get("digest") != pushed.get("digest"):
        problems.append("%s:%s now points at %s, not at %s pushed at %s (event %s): the tag was pushed again since; the "
                        "newer push's event deploys it" % (
                            pushed.get("repository"), pushed.get("image_tag"), image.get("digest"), pushed.get("digest"),
                            pushed.get("time") or "an unknown time", pushed.get("event_id") or "-"))
        return problems
    pair = slots.get("slots") or {}
    a, b = pair.get("a") or {}, pair.get("b") or {}
    if not (a.get("exists") and b.get("exists")):
        return ["both slot services %s and %s must exist in %s (one service behind the listener? adopt it with "
                "playbooks/ecs_adopt.yml, naming it in ecs_validate_slot_names.a)"
                % (a.get("service_name"), b.get("service_name"), cluster)]
    if slots.get("state") == "foreign_in_progress":
        lock = slots.get("lock") or {}
        split = _json(slots.get("percentages"))
        if lock:
            return ["deployment lock %s is held by execution %s (%s), deploying %s, held %ss; traffic is split %s: let "
                    "it finish, or run ecs_rollback.yml" % (
                        lock_name, lock.get("execution_id"), lock.get("owner"), lock.get("digest"),
                        int(now) - int(lock.get("acquired_at", now)), split)]
        return ["traffic is split %s and no slot runs %s: another deployment is in flight; finish it or run "
                "ecs_rollback.yml" % (split, image.get("digest"))]
    live_check = slots.get("live_check") or {}
    if live_check and not live_check.get("ok", True):
        return [live_check.get("message") or "the live service is not steady or the account has no room for the candidate"]
    return problems
