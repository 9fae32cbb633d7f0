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
