# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the deployment's HTML report on the controller (see plugins/modules/deployment_report.py)."""

import os
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report


def write_report(path, html):
    """Write `html` to `path` (UTF-8, mode 0644) through a temporary file beside it, creating its directory; a reader
    never sees half a report."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deployment-report-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        path, deployment = args.get("path"), args.get("deployment")
        trail = args.get("trail")
        problems = []
        if not isinstance(path, str) or not path.strip():
            problems.append("path must name the report's file")
        if not isinstance(deployment, dict):
            problems.append("deployment must be the deployment record (a dict), got %s" % type(deployment).__name__)
        if trail is not None and not isinstance(trail, (list, tuple)):
            problems.append("trail must be a list of audit records, got %s" % type(trail).__name__)
        if problems:
            result.update(failed=True, msg="deployment_report: " + "; ".join(problems))
            return result
        path = os.path.abspath(os.path.expanduser(path))
        # Shown like a debug message: the operator needs the path (or why there is no report) without -v.
        result.update(path=path, _ansible_verbose_always=True)
        if self._play_context.check_mode:
            result.update(changed=False, written=False, msg="Deployment report: not written in check mode (%s)" % path)
            return result
        try:
            write_report(path, deployment_report.render(deployment, trail=list(trail or [])))
        except (OSError, ValueError, TypeError) as e:
            # A report that cannot be written must not fail a deployment that went through; say so instead.
            result.update(changed=False, written=False, msg="Deployment report NOT written to %s: %s" % (path, e))
            return result
        result.update(changed=True, written=True, msg="Deployment report: %s" % path)
        return result
