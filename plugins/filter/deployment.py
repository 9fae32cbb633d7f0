# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that render a deployment for people: the summary, the verdict table, a notification.

Documented per filter in the YAML files beside this one.
"""

from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report as report

EVENTS = ("start", "step", "success", "rollback", "failure")

STATUS = {
    "start": "STARTED",
    "step": "IN PROGRESS",
    "success": "SUCCEEDED",
    "rollback": "ROLLED BACK",
    "failure": "FAILED",
}

# Slack attachment colours and PagerDuty severities per event.
COLOR = {"start": "normal", "step": "good", "success": "good", "rollback": "danger", "failure": "danger"}
SEVERITY = {"start": "info", "step": "info", "success": "info", "rollback": "error", "failure": "critical"}

TABLE_COLUMNS = ("metric", "live", "candidate", "change", "verdict", "reason")
REASON_WIDTH = 90

# The record's readers are module_utils/deployment_report.py's, shared with the HTML report.
_text = report.text
is_proportion = report.shows_share


def metric_name(metric):
    return _text(metric.get("metric", metric.get("name")))


def format_value(value, proportion=False):
    """A metric value as people read it: 0.0018 -> '0.180 %' for proportions, 4 significant digits otherwise;
    anything that is not a number as its text."""
    return report.fmt_value(value, proportion) if report.number(value) is not None else _text(value)


def format_change(value):
    """A relative change (0.5 is +50 %) as a signed percentage; anything that is not a number as its text."""
    return report.fmt_change(value) if report.number(value) is not None else _text(value)


def format_duration(seconds):
    return report.duration(seconds) if report.number(seconds) is not None and report.number(seconds) >= 0 else _text(seconds)


def duration_of(deployment):
    """duration_seconds when given, else finished_at - started_at when both parse, else None."""
    given = report.number(deployment.get("duration_seconds"))
    if given is not None and given >= 0:
        return given
    start, end = report.parse_time(deployment.get("started_at")), report.parse_time(deployment.get("finished_at"))
    if start is not None and end is not None:
        return end - start
    return None


def status_of(deployment, event=None):
    if event:
        return STATUS.get(event, str(event).upper())
    return report.status_of(deployment)


def steps_of(deployment):
    """Every step told so far: `steps`, plus `step` when it is not already the last of them."""
    steps = report.steps_of(deployment)
    step = deployment.get("step")
    if isinstance(step, dict) and step and (not steps or steps[-1] != step):
        steps.append(step)
    return steps


def metric_row(metric):
    proportion = is_proportion(metric)
    change = metric.get("change", metric.get("relative_change"))
    reason = _text(metric.get("reason"), empty="")
    if len(reason) > REASON_WIDTH:
        reason = reason[:REASON_WIDTH - 3] + "..."
    return (
        metric_name(metric),
        format_value(metric.get("live"), proportion),
        format_value(metric.get("candidate"), proportion),
        format_change(change),
        _text(metric.get("verdict")),
        reason,
    )


def verdict_table(metrics):
    """The metrics of one step as an aligned text table (header, rule, one row per metric)."""
    rows = [metric_row(m) for m in (metrics or []) if isinstance(m, dict)]
    if not rows:
        return ""
    widths = [max(len(TABLE_COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(TABLE_COLUMNS))]

    def line(cells):
        return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()

    out = [line(TABLE_COLUMNS), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def step_heading(step):
    percent = _text(step.get("percent"), empty="?")
    decision = _text(step.get("decision"))
    action = _text(step.get("action"), empty="")
    heading = "Step %s %%: %s" % (percent, decision)
    if action and action != decision:
        heading += " -> %s" % action
    question = _text(step.get("question"), empty="")
    if question:
        heading += " (%s)" % question
    return heading


def deployment_summary(deployment, event=None, title="Deployment Summary"):
    """The deployment as readable text: the header fields, then each step's verdict table."""
    if not isinstance(deployment, dict):
        raise TypeError("deployment_summary expects a dict, got %s" % type(deployment).__name__)
    if event is not None and event not in EVENTS:
        raise ValueError("deployment_summary: event must be one of %s, got %r" % (", ".join(EVENTS), event))
    d = deployment
    service = _text(d.get("service"))
    if _text(d.get("cluster"), empty=""):
        service += " (cluster %s)" % _text(d.get("cluster"))
    slots = ""
    if _text(d.get("live_slot"), empty="") or _text(d.get("candidate_slot"), empty=""):
        slots = "live %s, candidate %s" % (_text(d.get("live_slot")), _text(d.get("candidate_slot")))
    duration = duration_of(d)
    fields = [
        ("Status", status_of(d, event)),
        ("Pipeline", _text(d.get("pipeline"))),
        ("Service", service),
        ("Environment", _text(d.get("environment"))),
        ("Image", _text(d.get("image"))),
        ("Image tag", _text(d.get("image_tag"))),
        ("Digest", _text(d.get("digest"))),
        ("Task definition", _text(d.get("task_definition"))),
        ("Tasks", _text(d.get("desired_count"))),
        ("Strategy", _text(d.get("strategy"))),
        ("Slots", slots or "-"),
        ("Started", _text(d.get("started_at"))),
        ("Finished", _text(d.get("finished_at"))),
        ("Duration", format_duration(duration) if duration is not None else "-"),
        ("Execution id", _text(d.get("execution_id"))),
    ]
    if _text(d.get("reason"), empty=""):
        fields.append(("Reason", _text(d.get("reason"))))
    width = max(len(field[0]) for field in fields) + 1
    lines = [title, "=" * len(title)]
    lines.extend(("%s:" % label).ljust(width + 1) + value for label, value in fields)
    for step in steps_of(d):
        lines.append("")
        lines.append(step_heading(step))
        if _text(step.get("summary"), empty=""):
            lines.append("  " + _text(step.get("summary")))
        table = verdict_table(step.get("metrics"))
        if table:
            lines.extend("  " + row for row in table.split("\n"))
    return "\n".join(lines)


def failing_metrics(deployment):
    """One line per metric that failed in any step: 'error_rate: live 0.180 % -> candidate 4.200 % (+2233.3 %), fail'."""
    out = []
    for step in steps_of(deployment):
        for metric in step.get("metrics") or []:
            if not isinstance(metric, dict) or str(metric.get("verdict")).lower() != "fail":
                continue
            name, live, candidate, change, verdict = metric_row(metric)[:5]
            out.append("%s at %s %%: live %s -> candidate %s (%s), %s" % (
                name, _text(step.get("percent"), empty="?"), live, candidate, change, verdict))
    return out


def deployment_notification(deployment, event):
    """What every channel needs to tell `event` about `deployment`: title, headline, text, colour, severity, keys."""
    if event not in EVENTS:
        raise ValueError("deployment_notification: event must be one of %s, got %r" % (", ".join(EVENTS), event))
    if not isinstance(deployment, dict):
        raise TypeError("deployment_notification expects a dict, got %s" % type(deployment).__name__)
    d = deployment
    who = "%s %s" % (_text(d.get("service")), _text(d.get("image_tag"), empty=""))
    where = _text(d.get("environment"), empty="")
    title = "%s%s: %s" % (who.strip(), (" to %s" % where) if where else "", STATUS[event].lower())
    color = COLOR[event]
    step = d.get("step") if isinstance(d.get("step"), dict) else None
    if event == "step" and step:
        title += " - step %s %% %s" % (_text(step.get("percent"), empty="?"), _text(step.get("decision")))
        if str(step.get("decision")).lower() == "fail":
            color = "danger"
        elif str(step.get("decision")).lower() not in ("pass", "planned"):
            color = "warning"
    failing = failing_metrics(d)
    headline = title
    if _text(d.get("reason"), empty="") and event in ("rollback", "failure"):
        headline += " - " + _text(d.get("reason"))
    if failing:
        headline += "\nFailing: " + "; ".join(failing)
    text = headline + "\n\n" + deployment_summary(d, event)
    incident_key = "progressive.delivery/%s/%s/%s" % (
        _text(d.get("cluster"), empty="-"), _text(d.get("service"), empty="-"), _text(d.get("environment"), empty="-"))
    return {
        "event": event,
        "status": STATUS[event],
        "title": title,
        "headline": headline,
        "text": text,
        "failing_metrics": failing,
        "color": color,
        "severity": SEVERITY[event],
        "incident_key": incident_key,
    }


class FilterModule(object):
    def filters(self):
        return {
            "deployment_summary": deployment_summary,
            "deployment_notification": deployment_notification,
            "deployment_verdict_table": verdict_table,
        }
