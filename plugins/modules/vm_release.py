#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: vm_release
version_added: 0.2.0
short_description: Read, stage, switch and prune the releases of an application on a VM host, in one module run each
description:
  - Manages the release layout of the VM path (role C(progressive.delivery.vm_deploy)) on the host itself -
    C(<app_root>/releases/<version>/), the C(current) and C(previous) links, the C(.incoming/) directory the package
    is copied to, and the marker file naming the sha256 of the package a release was unpacked from.
  - Exists to cut SSH round trips. With the builtin modules a deployment spends about twenty module runs per host on
    this bookkeeping (M(ansible.builtin.stat) of each link, the service status, M(ansible.builtin.slurp) of the
    marker, M(ansible.builtin.file) for each directory and link, a second M(ansible.builtin.stat) for the sha256,
    M(ansible.builtin.unarchive), M(ansible.builtin.copy) of the marker, M(ansible.builtin.find) and a
    M(ansible.builtin.file) per pruned release). Each module run is an SSH round trip plus a Python start on the
    host, so the bookkeeping cost more CPU than the deployment. This module does each phase in one run.
  - O(state=read) reads the links, the marker of O(version) and whether the service runs (O(service_manager));
    with O(create_dirs=true) it also creates O(app_root), C(releases/) and C(.incoming/) when missing, so the
    package copy that follows has somewhere to land.
  - O(state=staged) verifies the sha256 of the copied O(package), unpacks it into C(releases/<version>) (members
    checked before anything is written - absolute paths, C(..) and links out of the release are refused), writes
    the marker and removes the package. A release directory already holding that package is left alone; one left by
    a different package or an unfinished unpack is replaced.
  - O(state=switched) stops the service (when O(stop=true)), points C(current) at O(version) (and C(previous) at
    O(previous) when given), then starts the service - the moment the host changes release. Links are replaced
    atomically (a new link renamed over the old one). With O(health_url), it then waits for the health URL as
    O(state=healthy) does, and fails as it does (the switch made stays; the caller rolls back). With O(keep), it
    then prunes as O(state=pruned) does, in the same run (after the health URL answered, when one is given).
  - O(state=healthy) waits, on the host itself, for the port of O(health_url) to accept connections (up to
    O(port_timeout) seconds), then for O(health_url) to answer 200 (O(health_retries) attempts, O(health_delay)
    seconds apart) - the job of an M(ansible.builtin.wait_for) plus an M(ansible.builtin.uri) per attempt, in one
    module run with the standard library's HTTP client.
  - O(state=pruned) removes all but the newest O(keep) release directories (by the time they were unpacked); the
    releases C(current) and C(previous) point at and those in O(protect) are never removed.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  app_root:
    description: Root of the application tree on the host, an absolute path.
    type: path
    required: true
  state:
    description: The phase, see the description.
    type: str
    choices: [read, staged, switched, healthy, pruned]
    default: read
  version:
    description:
      - The release (a directory name under C(releases/)). O(state=read) reads its marker when given; required
        for O(state=staged) and O(state=switched).
    type: str
  marker:
    description: Name of the marker file in a release directory.
    type: str
    default: .vm_deploy_sha256
  create_dirs:
    description: With O(state=read), create O(app_root), C(releases/) and C(.incoming/) when missing.
    type: bool
    default: false
  owner:
    description: Owner of the directories and unpacked files this module creates (default the connecting user).
    type: str
  group:
    description: Group of the directories and unpacked files this module creates.
    type: str
  package:
    description: With O(state=staged), the copied package on the host (a tar, compressed or not, or a zip).
    type: path
  sha256:
    description: With O(state=staged), the sha256 the package must have (64 hex digits).
    type: str
  extra_opts:
    description: With O(state=staged), unpack options; only C(--strip-components=N) is supported.
    type: list
    elements: str
    default: []
  previous:
    description:
      - With O(state=switched), the release C(previous) points at afterwards; an empty string removes the link
        (a rollback restoring a host that had none); left as it is when omitted.
    type: str
  stop:
    description: With O(state=switched), stop the service before the switch.
    type: bool
    default: true
  service_manager:
    description:
      - How the service is controlled. V(command) runs the argv lists O(status_command), O(stop_command) and
        O(start_command) from O(app_root), never through a shell. V(systemd) uses C(systemctl) on O(systemd_unit).
        V(none) - no service (O(state=read) reports it as not running).
    type: str
    choices: [command, systemd, none]
    default: none
  status_command:
    description: Command mode, argv that exits 0 only when the service runs.
    type: list
    elements: str
    default: []
  stop_command:
    description: Command mode, argv that stops the service (and succeeds when it is already stopped).
    type: list
    elements: str
    default: []
  start_command:
    description: Command mode, argv that starts the service.
    type: list
    elements: str
    default: []
  systemd_unit:
    description: Systemd mode, the unit name.
    type: str
  daemon_reload:
    description: Systemd mode with O(state=switched), run C(systemctl daemon-reload) before the start.
    type: bool
    default: false
  health_url:
    description:
      - With O(state=healthy), the C(http://) or C(https://) URL that must answer 200 (HTTPS certificates are
        validated against the host's trusted CAs).
      - With O(state=switched), the same wait right after the start, in the same run (optional).
    type: str
  port_timeout:
    description: With O(state=healthy) (or O(state=switched) and O(health_url)), seconds to wait for the port of
      O(health_url) to accept connections.
    type: int
    default: 60
  health_retries:
    description: With O(state=healthy) (or O(state=switched) and O(health_url)), requests to O(health_url) before
      it counts as failed (at least 1).
    type: int
    default: 30
  health_delay:
    description: With O(state=healthy), seconds between those requests.
    type: float
    default: 2
  keep:
    description:
      - How many release directories to keep (at least 1). With O(state=pruned) 5 when omitted; with
        O(state=switched), pruning after the start happens only when it is given.
    type: int
  protect:
    description:
      - When pruning, releases never removed (besides those C(current) and C(previous) point at), e.g. the release
        a rollback of this switch would point C(previous) back at.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reads in check mode; reports what it would change without changing it or running a command.
  diff_mode:
    support: full
    description: Shows the links and release directories before and after.
notes:
  - Runs on the host's Python 3.8 or later.
  - O(state=read), O(state=staged) (a release already holding the package), O(state=healthy) and O(state=pruned)
    (nothing beyond O(keep)) change nothing on a second run. O(state=switched) restarts the service, so it always
    reports a change; the role runs it only when the host is not already running the release.
"""

EXAMPLES = r"""
- name: Read the host's release state
  progressive.delivery.vm_release:
    app_root: /srv/myapp
    version: v1.2.3
    service_manager: command
    status_command: [/srv/myapp/current/bin/status]
    create_dirs: true
  register: release_state

- name: Copy the package
  ansible.builtin.copy:
    src: /var/cache/releases/myapp-v1.2.3.tar.gz
    dest: /srv/myapp/.incoming/myapp-v1.2.3.tar.gz
    mode: "0640"

- name: Verify and unpack it beside the running release
  progressive.delivery.vm_release:
    app_root: /srv/myapp
    state: staged
    version: v1.2.3
    package: /srv/myapp/.incoming/myapp-v1.2.3.tar.gz
    sha256: "{{ package_sha256 }}"

- name: Switch current to v1.2.3 (stop, switch, start)
  progressive.delivery.vm_release:
    app_root: /srv/myapp
    state: switched
    version: v1.2.3
    previous: "{{ release_state.current }}"
    service_manager: systemd
    systemd_unit: myapp.service

- name: Keep the newest three releases
  progressive.delivery.vm_release:
    app_root: /srv/myapp
    state: pruned
    keep: 3
"""

RETURN = r"""
current:
  description: The release C(current) points at after the run (empty when none).
  returned: always
  type: str
  sample: v1.2.3
previous:
  description: The release C(previous) points at after the run (empty when none).
  returned: always
  type: str
  sample: v1.2.2
running:
  description: With O(state=read), whether the service runs (its status check).
  returned: when state is read
  type: bool
marker:
  description: With O(state=read), the sha256 recorded in the marker of O(version) (empty when none).
  returned: when state is read
  type: str
releases:
  description: Release directories after the run, newest first.
  returned: always
  type: list
  elements: str
release_dir:
  description: With O(state=staged), the release directory.
  returned: when state is staged
  type: str
files:
  description: With O(state=staged), the number of files unpacked (0 when the release was already there).
  returned: when state is staged
  type: int
removed:
  description: The releases pruned (or that would be, in check mode).
  returned: when state is pruned, or switched with O(keep)
  type: list
  elements: str
status:
  description: With O(state=healthy), the last HTTP status of O(health_url) (-1 when it did not answer).
  returned: when state is healthy, or switched with O(health_url)
  type: int
attempts:
  description: With O(state=healthy), the requests made to O(health_url).
  returned: when state is healthy, or switched with O(health_url)
  type: int
commands:
  description: With O(state=switched), the service commands run, in order, with their output.
  returned: when state is switched
  type: list
  elements: dict
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils import vm_release as vr


class Layout(object):
    def __init__(self, app_root, marker):
        self.root = app_root
        self.releases = os.path.join(app_root, "releases")
        self.incoming = os.path.join(app_root, ".incoming")
        self.current = os.path.join(app_root, "current")
        self.previous = os.path.join(app_root, "previous")
        self.marker = marker

    def release(self, version):
        return os.path.join(self.releases, version)

    def snapshot(self):
        names = [n for n, dummy in sorted(vr.list_releases(self.releases), key=lambda r: (-r[1], r[0]))]
        return dict(current=vr.read_link(self.current), previous=vr.read_link(self.previous), releases=names)


def ids(module):
    uid = gid = -1
    p = module.params
    try:
        if p["owner"]:
            uid = int(p["owner"]) if p["owner"].isdigit() else pwd.getpwnam(p["owner"]).pw_uid
        if p["group"]:
            gid = int(p["group"]) if p["group"].isdigit() else grp.getgrnam(p["group"]).gr_gid
    except KeyError as e:
        module.fail_json(msg="owner / group not found on the host: %s" % e)
    return uid, gid


def ensure_dir(module, path, uid, gid):
    if os.path.isdir(path):
        return False
    if not module.check_mode:
        os.makedirs(path)
        os.chmod(path, 0o755)
        if uid != -1 or gid != -1:
            os.lchown(path, uid, gid)
    return True


def run(module, argv, what):
    """Run a service command from app_root (no shell); fail the module with its output when it fails."""
    rc, out, err = module.run_command(argv, cwd=module.params["app_root"])
    if rc != 0:
        module.fail_json(msg="%s failed (rc %d): %s" % (what, rc, (err or out).strip()[-600:]), rc=rc,
                         stdout=out, stderr=err)
    return dict(command=what, rc=rc, stdout=out.strip()[-600:])


def service_running(module):
    p = module.params
    if p["service_manager"] == "command":
        if not os.path.isdir(p["app_root"]):
            return False
        rc, out, err = module.run_command(p["status_command"], cwd=p["app_root"])
        return rc == 0
    if p["service_manager"] == "systemd":
        rc, out, err = module.run_command([module.get_bin_path("systemctl", required=True), "show",
                                           "--property=ActiveState", p["systemd_unit"]])
        return rc == 0 and out.strip() == "ActiveState=active"
    return False


def do_read(module, layout):
    p = module.params
    uid, gid = ids(module)
    changed = False
    if p["create_dirs"]:
        for path in (layout.root, layout.releases, layout.incoming):
            changed = ensure_dir(module, path, uid, gid) or changed
    result = layout.snapshot()
    result.update(changed=changed, running=service_running(module),
                  marker=vr.read_marker(os.path.join(layout.release(p["version"]), layout.marker))
                  if p["version"] else "")
    return result


def do_staged(module, layout):
    p = module.params
    release = layout.release(p["version"])
    marker = os.path.join(release, layout.marker)
    before = layout.snapshot()
    result = dict(release_dir=release, files=0)
    if os.path.isdir(release) and vr.read_marker(marker) == p["sha256"]:
        result.update(changed=False, **before)
        return result
    if not os.path.isfile(p["package"]):
        module.fail_json(msg="package %s is not on the host" % p["package"], **result)
    digest = vr.sha256_of(p["package"])
    if digest != p["sha256"]:
        module.fail_json(msg="sha256 of %s on the host is %s, expected %s" % (
            os.path.basename(p["package"]), digest, p["sha256"]), **result)
    try:
        strip = vr.strip_components(p["extra_opts"])
    except ValueError as e:
        module.fail_json(msg="extra_opts: %s" % e, **result)
    if module.check_mode:
        result.update(changed=True, **before)
        return result
    uid, gid = ids(module)
    ensure_dir(module, layout.releases, uid, gid)
    partial = os.path.join(layout.releases, ".unpacking-%s" % p["version"])
    vr.remove_tree(partial)
    try:
        result["files"] = vr.unpack(p["package"], partial, strip)
    except (vr.ArchiveError, IOError, OSError, EOFError, ValueError) as e:
        vr.remove_tree(partial)
        module.fail_json(msg="cannot unpack %s: %s" % (os.path.basename(p["package"]), e), **result)
    except Exception as e:  # pylint: disable=broad-except  # tarfile.TarError, zipfile.BadZipFile
        vr.remove_tree(partial)
        module.fail_json(msg="cannot unpack %s: %s: %s" % (os.path.basename(p["package"]), type(e).__name__, e),
                         **result)
    with open(os.path.join(partial, layout.marker), "w") as f:
        f.write(p["sha256"] + "\n")
    os.chmod(partial, 0o755)
    vr.chown_tree(partial, uid, gid)
    vr.remove_tree(release)                 # a different or unfinished unpack of this version
    os.rename(partial, release)
    os.utime(release, None)                 # dates the release for pruning
    os.unlink(p["package"])
    after = layout.snapshot()
    result.update(changed=True, **after)
    result["diff"] = dict(before=dict(releases=before["releases"]), after=dict(releases=after["releases"]))
    return result


def do_switched(module, layout):
    p = module.params
    before = layout.snapshot()
    targets = [(layout.current, p["version"])]
    if p["previous"]:
        targets.append((layout.previous, p["previous"]))
    for link, version in targets:
        if not os.path.isdir(layout.release(version)):
            module.fail_json(msg="release directory %s is missing" % layout.release(version), **before)
    after = dict(before, current=p["version"], previous=before["previous"] if p["previous"] is None else p["previous"])
    result = dict(changed=True, commands=[], diff=dict(before=before, after=after))
    if module.check_mode:
        result.update(after)
        return result
    manager = p["service_manager"]
    systemctl = module.get_bin_path("systemctl", required=True) if manager == "systemd" else None
    if p["stop"] and manager == "command":
        result["commands"].append(run(module, p["stop_command"], "stop command %s" % " ".join(p["stop_command"])))
    elif p["stop"] and manager == "systemd":
        result["commands"].append(run(module, [systemctl, "stop", p["systemd_unit"]], "systemctl stop"))
    for link, version in targets:
        vr.point_link(link, layout.release(version))
    if p["previous"] == "" and os.path.islink(layout.previous):
        os.unlink(layout.previous)
    if manager == "command":
        result["commands"].append(run(module, p["start_command"], "start command %s" % " ".join(p["start_command"])))
    elif manager == "systemd":
        if p["daemon_reload"]:
            result["commands"].append(run(module, [systemctl, "daemon-reload"], "systemctl daemon-reload"))
        result["commands"].append(run(module, [systemctl, "start", p["systemd_unit"]], "systemctl start"))
    if p["health_url"]:
        outcome = vr.wait_healthy(p["health_url"], p["port_timeout"], p["health_retries"], p["health_delay"])
        result.update(status=outcome["status"], attempts=outcome["attempts"])
        if not outcome["ok"]:
            result.update(layout.snapshot())
            module.fail_json(msg=outcome["msg"], **result)
        result["msg"] = outcome["msg"]
    if p["keep"]:
        result["removed"] = prune(layout, p["keep"], p["protect"], module.check_mode)
    result.update(layout.snapshot())
    return result


def prune(layout, keep, protect, check_mode):
    state = layout.snapshot()
    remove = vr.prune_plan(vr.list_releases(layout.releases), keep,
                           list(protect) + [state["current"], state["previous"]])
    if not check_mode:
        for name in remove:
            vr.remove_tree(layout.release(name))
    return remove


def do_healthy(module, layout):
    p = module.params
    if module.check_mode:
        return dict(changed=False, status=-1, attempts=0, msg="not checked in check mode", **layout.snapshot())
    outcome = vr.wait_healthy(p["health_url"], p["port_timeout"], p["health_retries"], p["health_delay"])
    result = dict(changed=False, status=outcome["status"], attempts=outcome["attempts"], **layout.snapshot())
    if not outcome["ok"]:
        module.fail_json(msg=outcome["msg"], **result)
    result["msg"] = outcome["msg"]
    return result


def do_pruned(module, layout):
    p = module.params
    before = layout.snapshot()
    remove = prune(layout, p["keep"], p["protect"], module.check_mode)
    after = dict(before, releases=[n for n in before["releases"] if n not in remove])
    result = dict(changed=bool(remove), removed=remove, **after)
    if remove:
        result["diff"] = dict(before=dict(releases=before["releases"]), after=dict(releases=after["releases"]))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_root=dict(type="path", required=True),
            state=dict(type="str", default="read", choices=["read", "staged", "switched", "healthy", "pruned"]),
            version=dict(type="str"),
            marker=dict(type="str", default=".vm_deploy_sha256"),
            create_dirs=dict(type="bool", default=False),
            owner=dict(type="str"),
            group=dict(type="str"),
            package=dict(type="path"),
            sha256=dict(type="str"),
            extra_opts=dict(type="list", elements="str", default=[]),
            previous=dict(type="str"),
            stop=dict(type="bool", default=True),
            service_manager=dict(type="str", default="none", choices=["command", "systemd", "none"]),
            status_command=dict(type="list", elements="str", default=[]),
            stop_command=dict(type="list", elements="str", default=[]),
            start_command=dict(type="list", elements="str", default=[]),
            systemd_unit=dict(type="str"),
            daemon_reload=dict(type="bool", default=False),
            keep=dict(type="int"),
            health_url=dict(type="str"),
            port_timeout=dict(type="int", default=60),
            health_retries=dict(type="int", default=30),
            health_delay=dict(type="float", default=2),
            protect=dict(type="list", elements="str", default=[]),
        ),
        required_if=[
            ("state", "staged", ("version", "package", "sha256")),
            ("state", "switched", ("version",)),
            ("state", "healthy", ("health_url",)),
            ("service_manager", "systemd", ("systemd_unit",)),
        ],
        supports_check_mode=True,
    )
    p = module.params
    problems = []
    if not os.path.isabs(p["app_root"]) or p["app_root"].rstrip("/") == "":
        problems.append("app_root must be an absolute path below /, got %r" % p["app_root"])
    for name in ("version", "previous"):
        if p[name]:
            problems.append(vr.version_problem(name, p[name]))
    for name in p["protect"]:
        problems.append(vr.version_problem("protect", name))
    if p["marker"] in ("", ".", "..") or "/" in p["marker"]:
        problems.append("marker must be a file name, got %r" % p["marker"])
    if p["state"] == "staged" and not vr.SHA256_PATTERN.match(p["sha256"] or ""):
        problems.append("sha256 must be 64 lowercase hex digits, got %r" % p["sha256"])
    if p["state"] == "pruned" and p["keep"] is None:
        p["keep"] = 5
    if p["state"] == "healthy" or (p["state"] == "switched" and p["health_url"]):
        problems.append(vr.health_input_problem(p["health_url"], p["port_timeout"], p["health_retries"],
                                                p["health_delay"]))
    if p["keep"] is not None and p["keep"] < 1:
        problems.append("keep must be at least 1, got %d" % p["keep"])
    if p["service_manager"] == "command":
        wanted = {"read": ["status_command"], "switched": (["stop_command"] if p["stop"] else []) + ["start_command"]}
        for name in wanted.get(p["state"], []):
            if not p[name]:
                problems.append("%s must be an argv list in command mode" % name)
    problems = [x for x in problems if x]
    if problems:
        module.fail_json(msg="; ".join(problems))
    layout = Layout(p["app_root"].rstrip("/"), p["marker"])
    handler = dict(read=do_read, staged=do_staged, switched=do_switched, healthy=do_healthy,
                   pruned=do_pruned)[p["state"]]
    module.exit_json(**handler(module, layout))


if __name__ == "__main__":
    main()
