# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release layout of a VM host (roles/vm_deploy, DESIGN §2), for the vm_release module.

    <app_root>/releases/<version>/     one directory per release, dated (mtime) when unpacked
    <app_root>/releases/<version>/<marker>   sha256 of the package it was unpacked from
    <app_root>/current  -> releases/<version>      the release that runs
    <app_root>/previous -> releases/<version>      the release it replaced
    <app_root>/.incoming/                          where packages are copied to before they are unpacked

Pure functions (names, plans, archive member checks) first, then the few file system helpers the module runs on
the host. Runs on the host's Python (3.8+): no tarfile extraction filters (3.11.4+), so archive members are
checked here, one by one, before anything is written.
"""

import hashlib
import os
import re
import shutil
import socket
import stat
import tarfile
import time
import zipfile

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported on the hosts
    urlsplit = None

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
STRIP_OPTION = re.compile(r"^--strip-components(?:=(\d+))?$")
MAX_MEMBERS = 100000


class ArchiveError(ValueError):
    """A package that cannot be unpacked safely (named member, reason)."""


# ---------------------------------------------------------------- pure

def version_problem(name, value):
    """A message when `value` is not a release name (it names a directory under releases/), else None."""
    if not isinstance(value, str) or not VERSION_PATTERN.match(value) or value in (".", ".."):
        return "%s must be a release name (letters, digits, '.', '_', '+', '-', not starting with '.', '_', "\
               "'+' or '-'), got %r" % (name, value)
    return None


def strip_components(extra_opts):
    """The number of leading path components to drop, from tar-style options; refuses any other option.

    Accepts ``--strip-components=N`` or ``--strip-components N`` (what roles/vm_deploy documented for
    vm_deploy_unarchive_extra_opts); anything else raises ValueError naming it.
    """
    strip, opts, i = 0, list(extra_opts or []), 0
    while i < len(opts):
        m = STRIP_OPTION.match(str(opts[i]))
        if not m:
            raise ValueError("unsupported unpack option %r: only --strip-components=N is supported" % opts[i])
        value = m.group(1)
        if value is None:
            if i + 1 >= len(opts) or not str(opts[i + 1]).isdigit():
                raise ValueError("--strip-components needs a number")
            value = opts[i + 1]
            i += 1
        strip = int(value)
        i += 1
    return strip


def member_target(name, strip):
    """The relative path a member named `name` lands at after stripping `strip` components ('' = dropped).

    Raises ArchiveError for an absolute name or one that climbs out with '..'.
    """
    raw = name.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise ArchiveError("member %r has an absolute path" % name)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("member %r climbs out of the release directory ('..')" % name)
    parts = parts[strip:]
    return "/".join(parts)


def link_target_problem(member_path, link, hard=False):
    """A message when a link member at `member_path` pointing at `link` would leave the release directory."""
    link = link.replace("\\", "/")
    if link.startswith("/"):
        return "link %r points at an absolute path (%s)" % (member_path, link)
    base = [] if hard else member_path.split("/")[:-1]
    depth = len(base)
    for part in link.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                return "link %r points out of the release directory (%s)" % (member_path, link)
        else:
            depth += 1
    return None


def plan_members(members, strip=0):
    """Check archive members before anything is written; returns [(member, relative target)] to extract.

    `members` are (name, kind, link) with kind one of 'file', 'dir', 'symlink', 'hardlink' or anything else
    (devices, fifos: refused). Members stripped to nothing are dropped; the first unsafe one raises ArchiveError.
    """
    out = []
    if len(members) > MAX_MEMBERS:
        raise ArchiveError("more than %d members" % MAX_MEMBERS)
    for name, kind, link in members:
        target = member_target(name, strip)
        if kind not in ("file", "dir", "symlink", "hardlink"):
            raise ArchiveError("member %r is a %s: only files, directories and links are unpacked" % (name, kind))
        if not target:
            continue
        if kind in ("symlink", "hardlink"):
            if kind == "hardlink":
                try:
                    link = member_target(link, strip)
                except ArchiveError:
                    raise ArchiveError("hard link %r points out of the release directory (%s)" % (name, link))
            problem = link_target_problem(target, link, hard=kind == "hardlink")
            if problem:
                raise ArchiveError(problem)
        out.append((name, target))
    return out


def prune_plan(releases, keep, protect=()):
    """Release names to remove: all but the `keep` newest, never one in `protect`.

    `releases` is [(name, mtime)]; newest first by mtime, ties by name.
    """
    ordered = sorted(releases, key=lambda r: (-r[1], r[0]))
    return [name for name, dummy in ordered[keep:] if name not in set(p for p in protect if p)]


def health_input_problem(url, port_timeout, retries, delay):
    """A message when the health check's inputs are not usable, else None."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "health_url must be an http:// or https:// URL, got %r" % url
    if not 0 <= port_timeout <= 3600 or not 1 <= retries <= 1000 or not 0 <= delay <= 600:
        return "port_timeout within 0-3600, health_retries within 1-1000 and health_delay within 0-600, got %s, %s, %s" % (
            port_timeout, retries, delay)
    return None


def url_endpoint(url):
    """(scheme, host, port, path with query) of an http(s) URL."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, (parts.path or "/") + ("?" + parts.query if parts.query else "")


def http_status(url, timeout=5.0):
    """GET url; (status, reason) - status -1 and the error when it did not answer."""
    import http.client
    scheme, host, port, path = url_endpoint(url)
    if scheme == "https":
        import ssl
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "progressive.delivery-vm_release"})
        response = conn.getresponse()
        response.read()
        return response.status, response.reason
    except Exception as e:  # pylint: disable=broad-except  # refused, reset, timeout, TLS: all "no answer"
        return -1, "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()


def wait_port(host, port, timeout, clock=time.time, sleep=time.sleep):
    """True once host:port accepts a connection, False after `timeout` seconds (checked at least once)."""
    deadline = clock() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=max(0.5, min(5.0, timeout))).close()
            return True
        except (OSError, socket.error):
            if clock() >= deadline:
                return False
            sleep(0.25)


def wait_healthy(url, port_timeout, retries, delay, get=http_status, port_open=wait_port, sleep=time.sleep):
    """Wait for the port of `url`, then for `url` to answer 200; {ok, status, attempts, msg}."""
    scheme, host, port, path = url_endpoint(url)
    if not port_open(host, port, port_timeout):
        return dict(ok=False, status=-1, attempts=0,
                    msg="port %d on %s did not accept connections within %s s" % (port, host, port_timeout))
    status, reason = -1, ""
    for attempt in range(1, retries + 1):
        status, reason = get(url)
        if status == 200:
            return dict(ok=True, status=status, attempts=attempt, msg="%s answered 200 (attempt %d)" % (url, attempt))
        if attempt < retries:
            sleep(delay)
    return dict(ok=False, status=status, attempts=retries,
                msg="%s answered %s (%s) to each of %d requests, %s s apart; 200 expected" % (
                    url, status if status != -1 else "nothing", reason, retries, delay))


def release_from_link(target):
    """The release name a `current` / `previous` link target names (its last component), '' for none."""
    return os.path.basename(target.rstrip("/")) if target else ""


# ---------------------------------------------------------------- host file system

def read_link(path):
    """The release `path` (a symlink) points at, '' when it is not a link."""
    if not os.path.islink(path):
        return ""
    return release_from_link(os.path.realpath(path))


def read_marker(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return ""


def list_releases(releases_dir):
    """[(name, mtime)] of the release directories (hidden ones - unfinished unpacks - left out)."""
    out = []
    try:
        names = os.listdir(releases_dir)
    except (IOError, OSError):
        return out
    for name in names:
        path = os.path.join(releases_dir, name)
        if name.startswith(".") or os.path.islink(path) or not os.path.isdir(path):
            continue
        out.append((name, os.stat(path).st_mtime))
    return out


def sha256_of(path, chunk=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _tar_kind(info):
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.isreg():
        return "file"
    return "device or fifo"


def unpack(package, dest, strip=0):
    """Unpack a tar (any compression tarfile reads) or zip package into the new directory `dest`; file count.

    Every member is checked (plan_members) before the first is written; regular files keep their permission
    bits (no setuid/setgid/sticky), links are created as they are named.
    """
    os.makedirs(dest)
    count = 0
    if zipfile.is_zipfile(package):
        with zipfile.ZipFile(package) as zf:
            infos = zf.infolist()
            members = []
            for info in infos:
                mode = (info.external_attr >> 16) & 0o170000
                kind = "dir" if info.filename.endswith("/") else ("symlink" if mode == stat.S_IFLNK else "file")
                link = zf.read(info).decode("utf-8") if kind == "symlink" else None
                members.append((info.filename, kind, link))
            plan = plan_members(members, strip)
            by_name = dict((i.filename, i) for i in infos)
            links = dict((m[0], m[2]) for m in members if m[1] == "symlink")
            for name, target in plan:
                path = os.path.join(dest, target)
                info = by_name[name]
                if name.endswith("/"):
                    _mkdir(path)
                    continue
                _mkdir(os.path.dirname(path))
                if name in links:
                    os.symlink(links[name], path)
                    continue
                with zf.open(info) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(path, mode or 0o644)
                count += 1
        return count
    with tarfile.open(package, "r:*") as tar:
        infos = tar.getmembers()
        plan = plan_members([(i.name, _tar_kind(i), i.linkname) for i in infos], strip)
        by_name = {}
        for info in infos:
            by_name[info.name] = info         # the last member of a name wins, as tar does
        for name, target in plan:
            info = by_name[name]
            path = os.path.join(dest, target)
            if info.isdir():
                _mkdir(path)
                os.chmod(path, (info.mode & 0o777) | 0o700)
                continue
            _mkdir(os.path.dirname(path))
            if os.path.lexists(path) and not os.path.isdir(path):
                os.unlink(path)
            if info.issym():
                os.symlink(info.linkname, path)
            elif info.islnk():
                os.link(os.path.join(dest, member_target(info.linkname, strip)), path)
            else:
                src = tar.extractfile(info)
                with open(path, "wb") as out:
                    shutil.copyfileobj(src, out)
                os.chmod(path, info.mode & 0o777)
                count += 1
    return count


def _mkdir(path):
    if path and not os.path.isdir(path):
        os.makedirs(path)


def chown_tree(path, uid, gid):
    """uid / gid -1 leaves that one unchanged; links are changed themselves, not their targets."""
    if uid == -1 and gid == -1:
        return
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def remove_tree(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def point_link(link, target):
    """Make `link` a symlink to `target`, atomically (a new link renamed over the old one); True when changed."""
    if os.path.islink(link) and os.readlink(link) == target:
        return False
    tmp = "%s.vm_release.%d" % (link, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, link)
    return True
