# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deployment as one self-contained HTML page: facts, timeline, decisions, live-vs-candidate charts.

Pure functions (no Ansible, no AWS). Input:

deployment   the playbook's record (ecs_bg_deployment): service, image_tag, digest, execution_id, started_at,
             finished_at, reason, live_slot, candidate_slot ..., and `steps` - the traffic-shift role's results,
             each with percent, decision, action, reason, summary, score, looks, early_exit, shifted_at, decided_at,
             window, weights, metrics (cw_compare's table) and periods (cw_compare's per-period values).
trail        the audit_event records of the run (fact deployment_audit_trail), each with phase, decision, time.

A VM rolling deployment (playbooks/vm_rolling.yml) gives batches as its steps: each with `batch` (its number),
`hosts` (per host: host, target, status, before, version, health, switch_seconds, reason), decision, started_at,
finished_at, seconds and failed_percent. The page then shows a batch section instead of the traffic steps.

The page fetches nothing: CSS inline, charts as inline SVG drawn here, no scripts, and a
Content-Security-Policy that forbids every fetch. Everything from the input is escaped.
"""

import datetime
import html
import math

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils import times

LIVE_COLOR = "#1f77b4"
CANDIDATE_COLOR = "#ff7f0e"
TRAFFIC_COLOR = "#6f42c1"
VERDICT_COLORS = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "inconclusive": "#9a6700",
    "nodata": "#6e7781",
    "planned": "#6e7781",
}
STATUS_COLORS = {"SUCCEEDED": "#1a7f37", "ROLLED BACK": "#cf222e", "IN PROGRESS": "#9a6700"}
PHASE_LABELS = {
    "start": "Started",
    "validate": "Validated",
    "green": "Green deployed, smoke-tested",
    "shift": "Traffic step",
    "cleanup": "Cleaned up",
    "rollback": "Rolled back",
    "notify": "Notification",
    "end": "Finished",
    "batch": "Batch",
    "finish": "Finished the rollout",
}
UNITS = {"TargetResponseTime": "s", "CPUUtilization": "%", "MemoryUtilization": "%"}
CHART_WIDTH = 560
CHART_HEIGHT = 200
MAX_TRAIL = 500
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;background:#fff;color:#1f2328;font-size:14px}
main{max-width:1220px;margin:0 auto;padding:16px 24px}
h1{font-size:24px;margin:8px 0}
h2{font-size:19px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
h3{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.pill{display:inline-block;padding:0 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.facts th{width:170px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{border:1px solid #d0d7de;border-radius:6px;padding:6px}
.reason{color:#57606a}
.legend{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
code{font-size:12px}
"""


# --- small helpers ---------------------------------------------------------------------------------

def esc(value):
    """Text for HTML content and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value):
    """float(value) for numbers and numeric strings; None for anything else (None, '', booleans, NaN, inf)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def text(value, empty="-"):
    if value is None:
        return empty
    value = str(value).strip()
    return value if value else empty


# Epoch seconds from ISO 8601 text (Z, offset or naive UTC) or epoch seconds; None when it is neither.
parse_time = times.parse_time


def clock(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%H:%M:%S")


def stamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds):
    seconds = number(seconds)
    if seconds is None or seconds < 0:
        return "-"
    total = int(round(seconds))
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return "%dh %02dm %02ds" % (hours, minutes, secs)
    if minutes:
        return "%dm %02ds" % (minutes, secs)
    return "%ds" % secs


def unit_of(metric):
    return UNITS.get(str(metric.get("metric_name") or ""), "")


def is_proportion(metric):
    """Whether a metric's values are proportions (0-1, shown in percent). Only the judge's `kind` decides: a name
    ending in `_rate` may as well be requests per second (the filters once guessed from the name)."""
    return str(metric.get("kind") or "").lower() == "proportion"


def shows_share(metric):
    """Whether a metric row's live / candidate are shown in percent: a proportion, or a tail (its live / candidate
    are the shares of requests slower than its threshold; its per-period points stay latencies)."""
    return is_proportion(metric) or str(metric.get("kind") or "").lower() == "tail"


def fmt_value(value, proportion=False, unit=""):
    value = number(value)
    if value is None:
        return "-"
    if proportion:
        return "%.3f %%" % (value * 100.0)
    if unit == "s":
        return "%.1f ms" % (value * 1000.0)
    if unit == "%":
        return "%.1f %%" % value
    if value == int(value) and abs(value) < 1e15:
        return "%d" % value
    return "%.4g" % value


def axis_label(value, proportion=False, unit=""):
    """A short axis label: 0.0025 -> '0.25 %' for proportions, milliseconds for seconds, '%g' otherwise."""
    if proportion:
        return "%g %%" % round(value * 100.0, 4)
    if unit == "s":
        return "%g ms" % round(value * 1000.0, 3)
    if unit == "%":
        return "%g %%" % round(value, 3)
    return "%g" % round(value, 4)


def fmt_change(value):
    value = number(value)
    return "-" if value is None else "%+.1f %%" % (value * 100.0)


def fmt_p(value):
    value = number(value)
    if value is None:
        return "-"
    return "%.2g" % value if value < 0.01 else "%.3f" % value


def fmt_mde(value):
    value = number(value)
    return "-" if value is None else "\u00d7%.2f" % value


def status_of(deployment):
    if text(deployment.get("reason"), ""):
        return "ROLLED BACK"
    if text(deployment.get("finished_at"), ""):
        return "SUCCEEDED"
    return "IN PROGRESS"


def pill(verdict):
    verdict = text(verdict)
    color = VERDICT_COLORS.get(verdict.lower(), "#6e7781")
    return '<span class="pill" style="background:%s">%s</span>' % (color, esc(verdict))


# --- the timeline ----------------------------------------------------------------------------------

def steps_of(deployment):
    return [s for s in (deployment.get("steps") or []) if isinstance(s, dict)]


def trail_of(deployment, trail):
    """The trail records of this execution (a fact cache may hold older runs' too), oldest first."""
    execution_id = text(deployment.get("execution_id"), "")
    records = [r for r in (trail or [])[-MAX_TRAIL:] if isinstance(r, dict)]
    if execution_id:
        records = [r for r in records if text(r.get("execution_id"), "") in ("", execution_id)]
    return records


def _detail(record):
    phase = text(record.get("phase"), "")
    parts = []
    if phase == "green":
        if record.get("task_definition"):
            parts.append("task definition %s on %s" % (
                text(record.get("task_definition")), text(record.get("candidate_service"))))
        smoke = record.get("smoke") if isinstance(record.get("smoke"), dict) else {}
        if smoke:
            parts.append("smoke: %s requests, %s errors, p95 %s ms" % (
                fmt_value(smoke.get("requests")), fmt_value(smoke.get("errors")), fmt_value(smoke.get("p95_ms"))))
    elif phase == "shift":
        parts.append("%s %% to the candidate: %s, %s" % (fmt_value(record.get("percent")), text(record.get("decision")),
                                                         text(record.get("action"))))
    elif phase == "rollback":
        parts.append("all traffic back to live")
        if record.get("reason"):
            parts.append(text(record.get("reason")))
        if record.get("candidate_kept") in (True, "true", "True"):
            parts.append("candidate kept for forensics")
    elif phase == "cleanup":
        parts.append(text(record.get("old_service"), "old slot") + ": " + text(record.get("decision")))
    elif phase == "batch" and isinstance(record.get("hosts"), list):
        parts.append(", ".join("%s %s" % (text(h.get("host")), text(h.get("status")))
                               for h in record["hosts"] if isinstance(h, dict)))
        if record.get("reason"):
            parts.append(text(record.get("reason")))
    elif record.get("reason"):
        parts.append(text(record.get("reason")))
    return "; ".join(parts)


def timeline(deployment, trail=None):
    """[{time (epoch or None), phase, label, decision, detail}] in time order: start, every trail record
    (or, without a trail, every step), the end."""
    events = []
    started = parse_time(deployment.get("started_at"))
    events.append({"time": started, "phase": "start", "label": PHASE_LABELS["start"], "decision": "",
                   "detail": "%s %s -> %s" % (text(deployment.get("service")), text(deployment.get("image_tag")),
                                              text(deployment.get("candidate_slot")))})
    records = trail_of(deployment, trail)
    if records:
        for record in records:
            phase = text(record.get("phase"), "event")
            label = PHASE_LABELS.get(phase, phase.capitalize())
            if phase == "shift":
                label = "Traffic %s %%" % fmt_value(record.get("percent"))
            elif phase == "batch" and record.get("batch") is not None:
                label = "Batch %s" % text(record.get("batch"))
            events.append({"time": parse_time(record.get("time")), "phase": phase, "label": label,
                           "decision": text(record.get("decision"), ""), "detail": _detail(record)})
    else:
        for step in steps_of(deployment):
            events.append({"time": parse_time(step.get("decided_at")) or parse_time(step.get("shifted_at")),
                           "phase": "shift", "label": "Traffic %s %%" % fmt_value(step.get("percent")),
                           "decision": text(step.get("decision"), ""),
                           "detail": _detail(dict(step, phase="shift"))})
    finished = parse_time(deployment.get("finished_at"))
    if finished is not None:
        events.append({"time": finished, "phase": "end", "label": PHASE_LABELS["end"], "decision": status_of(deployment),
                       "detail": text(deployment.get("reason"), "")})
    known = [e for e in events if e["time"] is not None]
    unknown = [e for e in events if e["time"] is None]
    known.sort(key=lambda e: e["time"])  # stable: records at the same second keep their order
    return known + unknown


def traffic_path(deployment, trail=None):
    """[(epoch, candidate percent)] as the listener moved: 0 at the start, each step at shifted_at,
    0 again at a rollback."""
    points = []
    started = parse_time(deployment.get("started_at"))
    if started is not None:
        points.append((started, 0.0))
    for step in steps_of(deployment):
        when = parse_time(step.get("shifted_at"))
        percent = number(step.get("percent"))
        if when is not None and percent is not None:
            points.append((when, percent))
    for record in trail_of(deployment, trail):
        if record.get("phase") == "rollback" and parse_time(record.get("time")) is not None:
            points.append((parse_time(record.get("time")), 0.0))
    points.sort(key=lambda p: p[0])
    end = parse_time(deployment.get("finished_at"))
    if end is not None and points and end > points[-1][0]:
        points.append((end, points[-1][1]))
    return points


# --- SVG -------------------------------------------------------------------------------------------

def _scale(value, lo, hi, out_lo, out_hi):
    if hi <= lo:
        return (out_lo + out_hi) / 2.0
    return out_lo + (value - lo) * (out_hi - out_lo) / (hi - lo)


def _nice_max(value):
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def line_chart(title, series, y_format, width=CHART_WIDTH, height=CHART_HEIGHT, step=False, y_max=None, floor_max=1.0):
    """An SVG chart. series: [(label, color, [(epoch, value or None)])]; gaps break the line.

    step=True draws each value flat until the next point (weights over time). The y axis runs from 0 to a
    round number above the largest value (y_max when given), at least floor_max.
    """
    left, right, top, bottom = 64, 12, 42, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    points_of = [points for _label, _color, points in series]
    times = [t for points in points_of for t, v in points if t is not None]
    values = [v for points in points_of for t, v in points if t is not None and v is not None]
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
             'aria-label="%s">' % (width, height, width, height, esc(title)),
             '<title>%s</title>' % esc(title),
             '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height),
             '<text x="8" y="16" font-size="13" font-weight="600" fill="#1f2328">%s</text>' % esc(title)]
    if not times or not values:
        parts.append('<text x="%d" y="%d" font-size="12" fill="#57606a">no data in this window</text>'
                     % (left + 10, top + plot_h // 2))
        parts.append("</svg>")
        return "".join(parts)
    t_lo, t_hi = min(times), max(times)
    if t_hi == t_lo:
        t_lo, t_hi = t_lo - 30, t_hi + 30
    top_value = max(values) if y_max is None else y_max
    v_hi = _nice_max(top_value) if top_value > 0 else floor_max
    for i in range(5):
        value = v_hi * i / 4.0
        y = _scale(value, 0, v_hi, top + plot_h, top)
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eaeef2" stroke-width="1"/>'
                     % (left, y, left + plot_w, y))
        parts.append('<text x="%d" y="%.1f" font-size="11" fill="#57606a" text-anchor="end">%s</text>'
                     % (left - 6, y + 4, esc(y_format(value))))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#8c959f" stroke-width="1"/>'
                 % (left, top + plot_h, left + plot_w, top + plot_h))
    for fraction, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        moment = t_lo + (t_hi - t_lo) * fraction
        parts.append('<text x="%.1f" y="%d" font-size="11" fill="#57606a" text-anchor="%s">%s</text>'
                     % (left + plot_w * fraction, height - 14, anchor, clock(moment)))
    for label, color, points in series:
        runs, run = [], []
        ordered = sorted(((t, v) for t, v in points if t is not None), key=lambda p: p[0])
        for i, (t, v) in enumerate(ordered):
            if v is None:
                if run:
                    runs.append(run)
                run = []
                continue
            x = _scale(t, t_lo, t_hi, left, left + plot_w)
            y = _scale(min(v, v_hi), 0, v_hi, top + plot_h, top)
            if step and run:
                run.append((x, run[-1][1]))
            run.append((x, y))
        if run:
            runs.append(run)
        for run in runs:
            coords = " ".join("%.1f,%.1f" % p for p in run)
            parts.append('<polyline fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round" points="%s">'
                         '<title>%s</title></polyline>' % (color, coords, esc(label)))
            if not step:
                for x, y in run:
                    parts.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x, y, color))
    legend_x = left
    for label, color, _points in series:
        parts.append('<rect x="%d" y="22" width="12" height="12" fill="%s"/>' % (legend_x, color))
        parts.append('<text x="%d" y="32" font-size="11" fill="#1f2328">%s</text>' % (legend_x + 16, esc(label)))
        legend_x += 16 + 7 * len(str(label)) + 14
    parts.append("</svg>")
    return "".join(parts)


# --- sections --------------------------------------------------------------------------------------

def _facts(deployment):
    rows = [
        ("Service", deployment.get("service")),
        ("Cluster", deployment.get("cluster")),
        ("Environment", deployment.get("environment")),
        ("Pipeline", deployment.get("pipeline")),
        ("Image", deployment.get("image")),
        ("Image tag", deployment.get("image_tag")),
        ("Digest", deployment.get("digest")),
        ("Task definition", deployment.get("task_definition")),
        ("Strategy", deployment.get("strategy")),
        ("Slots", "%s (live) -> %s (candidate)" % (text(deployment.get("live_slot")), text(deployment.get("candidate_slot")))),
        ("Desired count", deployment.get("desired_count")),
        ("Execution id", deployment.get("execution_id")),
        ("Started", deployment.get("started_at")),
        ("Finished", deployment.get("finished_at")),
        ("Duration", duration(deployment.get("duration_seconds"))),
    ]
    if is_batches(deployment):      # VM rolling: hosts and batches, no slots or image
        rows = [r for r in rows if r[0] not in ("Slots", "Cluster", "Image", "Digest", "Task definition", "Desired count")]
        rows.insert(1, ("Hosts", deployment.get("hosts")))
        rows.insert(2, ("Package sha256", deployment.get("digest")))
    if text(deployment.get("reason"), ""):
        rows.append(("Why it was rolled back", deployment.get("reason")))
    body = "".join("<tr><th>%s</th><td>%s</td></tr>" % (esc(k), esc(text(v))) for k, v in rows)
    return '<table class="facts">%s</table>' % body


def _timeline_section(deployment, trail):
    events = timeline(deployment, trail)
    origin = next((e["time"] for e in events if e["time"] is not None), None)
    rows = []
    for event in events:
        offset = "+" + duration(event["time"] - origin) if event["time"] is not None and origin is not None else "-"
        when = clock(event["time"]) if event["time"] is not None else "-"
        rows.append('<tr class="event phase-%s"><td>%s</td><td class="num">%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                    % (esc(event["phase"]), esc(when), esc(offset), esc(event["label"]),
                       pill(event["decision"]) if event["decision"] else "", esc(event["detail"])))
    path = traffic_path(deployment, trail)
    chart = ""
    if len(path) >= 2 and not is_batches(deployment):
        chart = '<div class="chart">%s</div>' % line_chart(
            "Production traffic to the candidate", [("candidate %", TRAFFIC_COLOR, path)],
            lambda v: "%d %%" % v, width=1100, height=170, step=True, y_max=100)
    return ('<h2 id="timeline">Timeline</h2>%s<table class="timeline"><tr><th>time (UTC)</th><th>since start</th>'
            '<th>what</th><th>decision</th><th>details</th></tr>%s</table>' % (chart, "".join(rows)))


def _metric_table(step):
    head = ("<tr><th>metric</th><th>verdict</th><th>live</th><th>candidate</th><th>change</th><th>p-value</th>"
            "<th>level</th><th>detectable (MDE)</th><th>tolerance</th><th>critical</th><th>live n</th>"
            "<th>candidate n</th><th>why</th></tr>")
    rows = []
    for metric in step.get("metrics") or []:
        if not isinstance(metric, dict):
            continue
        proportion, unit = shows_share(metric), unit_of(metric)
        rows.append(
            '<tr class="metric"><td>%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td>'
            '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td>%s</td>'
            '<td class="num">%s</td><td class="num">%s</td><td class="reason">%s</td></tr>' % (
                esc(text(metric.get("name"))), pill(metric.get("verdict")),
                esc(fmt_value(metric.get("live"), proportion, unit)), esc(fmt_value(metric.get("candidate"), proportion, unit)),
                esc(fmt_change(metric.get("relative_change"))), esc(fmt_p(metric.get("p_value"))),
                esc(fmt_p(metric.get("level"))), esc(fmt_mde(metric.get("mde_ratio"))),
                esc(fmt_change(metric.get("tolerance")).lstrip("+")),
                "yes" if metric.get("critical") in (True, "true", "True") else "no",
                esc(fmt_value(metric.get("live_count"))), esc(fmt_value(metric.get("candidate_count"))),
                esc((text(metric.get("evidence"), "") + ": " if text(metric.get("evidence"), "") else "")
                    + text(metric.get("reason"), ""))))
    if not rows:
        return '<p class="reason">no metrics were judged at this step</p>'
    return '<table class="verdicts">%s%s</table>' % (head, "".join(rows))


def _series(points, key):
    return [(parse_time(p.get("time")), number(p.get(key))) for p in points if isinstance(p, dict)]


def step_charts(step):
    """SVG charts of one step: each metric live vs candidate per period, and requests per period for proportions."""
    charts = []
    for periods in step.get("periods") or []:
        if not isinstance(periods, dict):
            continue
        name = text(periods.get("name"))
        points = [p for p in (periods.get("points") or []) if isinstance(p, dict)]
        proportion, unit = is_proportion(periods), unit_of(periods)
        title = "%s at %s %% (%s %s)" % (
            name, fmt_value(step.get("percent")), text(periods.get("metric_name"), ""), text(periods.get("stat"), ""))
        charts.append(line_chart(title, [("live", LIVE_COLOR, _series(points, "live")),
                                         ("candidate", CANDIDATE_COLOR, _series(points, "candidate"))],
                                 lambda v, p=proportion, u=unit: axis_label(v, p, u),
                                 floor_max=0.01 if proportion else 1.0))
        if proportion:
            charts.append(line_chart("%s at %s %%: requests per period" % (name, fmt_value(step.get("percent"))),
                                     [("live", LIVE_COLOR, _series(points, "live_trials")),
                                      ("candidate", CANDIDATE_COLOR, _series(points, "candidate_trials"))],
                                     axis_label))
    return charts


def _period_table(step):
    blocks = []
    for periods in step.get("periods") or []:
        if not isinstance(periods, dict):
            continue
        proportion, unit = is_proportion(periods), unit_of(periods)
        rows = []
        for point in periods.get("points") or []:
            if not isinstance(point, dict):
                continue
            extra = ""
            if proportion:
                extra = "<td class=\"num\">%s / %s</td><td class=\"num\">%s / %s</td>" % (
                    esc(fmt_value(point.get("live_events"))), esc(fmt_value(point.get("live_trials"))),
                    esc(fmt_value(point.get("candidate_events"))), esc(fmt_value(point.get("candidate_trials"))))
            rows.append('<tr><td>%s</td><td class="num">%s</td><td class="num">%s</td>%s</tr>' % (
                esc(text(point.get("time"))), esc(fmt_value(point.get("live"), proportion, unit)),
                esc(fmt_value(point.get("candidate"), proportion, unit)), extra))
        head = "<tr><th>period</th><th>live</th><th>candidate</th>%s</tr>" % (
            "<th>live events / requests</th><th>candidate events / requests</th>" if proportion else "")
        blocks.append("<h4>%s</h4><table>%s%s</table>" % (esc(text(periods.get("name"))), head, "".join(rows)))
    if not blocks:
        return ""
    return "<details><summary>per-period values</summary>%s</details>" % "".join(blocks)


def _step_section(index, step):
    shifted, decided = parse_time(step.get("shifted_at")), parse_time(step.get("decided_at"))
    window = step.get("window") if isinstance(step.get("window"), dict) else {}
    facts = []
    if shifted is not None:
        facts.append("shifted at %s" % clock(shifted))
    if decided is not None:
        facts.append("decided at %s" % clock(decided))
        if shifted is not None:
            facts.append("after %s" % duration(decided - shifted))
    if window:
        facts.append("window %s .. %s" % (text(window.get("start")), text(window.get("end"))))
    if number(step.get("looks")):
        facts.append("%s look(s)%s" % (fmt_value(step.get("looks")),
                                       ", early exit" if step.get("early_exit") in (True, "true", "True") else ""))
    if number(step.get("score")) is not None:
        facts.append("score %s" % fmt_value(round(number(step.get("score")))))
    weights = step.get("weights") if isinstance(step.get("weights"), dict) else {}
    if weights:
        facts.append("weights " + ", ".join("%s=%s" % (arns.target_group_name(text(k)), text(v))
                                            for k, v in sorted(weights.items(), key=lambda kv: str(kv[0]))))
    charts = "".join('<div class="chart">%s</div>' % chart for chart in step_charts(step))
    return ('<section class="step" id="step-%d"><h3>Step %d: %s %% to the candidate - %s, %s</h3>'
            '<p>%s</p><p class="reason">%s</p>%s<div class="charts">%s</div>%s</section>' % (
                index, index, esc(fmt_value(step.get("percent"))), pill(step.get("decision")),
                esc("action: " + text(step.get("action"))
                    + (" - " + text(step.get("question")) if text(step.get("question"), "") else "")),
                esc("; ".join(facts)),
                esc(text(step.get("reason"), "") or text(step.get("summary"), "")),
                _metric_table(step), charts, _period_table(step)))


# --- VM rolling deployments: batches instead of traffic steps --------------------------------------

def is_batches(deployment):
    """True when the deployment's steps are batches of hosts (a VM rolling deployment)."""
    steps = steps_of(deployment)
    return bool(steps) and all(isinstance(s.get("hosts"), list) and "batch" in s for s in steps)


def _batch_section(step):
    rows = []
    for host in step.get("hosts") or []:
        if not isinstance(host, dict):
            continue
        rows.append('<tr class="host"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td>'
                    '<td class="reason">%s</td></tr>' % (
                        esc(text(host.get("host"))), esc(text(host.get("target"))), pill(host.get("status")),
                        esc(text(host.get("before"))), esc(text(host.get("version"))) + " " + pill(host.get("health")),
                        esc(duration(number(host.get("switch_seconds"))) if number(host.get("switch_seconds")) is not None
                            else "-"),
                        esc(text(host.get("reason"), ""))))
    facts = []
    for key, label in (("started_at", "started"), ("finished_at", "finished")):
        if text(step.get(key), ""):
            facts.append("%s %s" % (label, text(step.get(key))))
    if number(step.get("seconds")) is not None:
        facts.append("took %s" % duration(number(step.get("seconds"))))
    if number(step.get("failed_percent")) is not None:
        facts.append("%s %% failed" % fmt_value(number(step.get("failed_percent"))))
    return ('<section class="batch" id="batch-%s"><h3>Batch %s: %s</h3><p>%s</p><p class="reason">%s</p>'
            '<table class="hosts"><tr><th>host</th><th>target</th><th>result</th><th>before</th><th>now / health</th>'
            '<th>switch</th><th>why</th></tr>%s</table></section>' % (
                esc(text(step.get("batch"))), esc(text(step.get("batch"))), pill(step.get("decision")),
                esc("; ".join(facts)), esc(text(step.get("reason"), "")), "".join(rows)))


def render(deployment, trail=None, generated_at=None):
    """The HTML page (a str) for `deployment` (see the module docstring) and the run's audit `trail`."""
    deployment = deployment if isinstance(deployment, dict) else {}
    status = status_of(deployment)
    title = "%s %s: %s" % (text(deployment.get("service")), text(deployment.get("image_tag")), status)
    steps = steps_of(deployment)
    step_html = "".join(_step_section(i, step) for i, step in enumerate(steps, 1))
    if not steps:
        step_html = '<p class="reason">no traffic step was taken</p>'
    steps_heading = '<h2 id="steps">Traffic steps: decisions and live vs candidate</h2>'
    generated = generated_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    legend = ('<p>Charts: <span class="legend" style="background:%s"></span>live '
              '<span class="legend" style="background:%s"></span>candidate; one point per metric period.</p>'
              % (LIVE_COLOR, CANDIDATE_COLOR))
    if is_batches(deployment):
        step_html = "".join(_batch_section(step) for step in steps)
        steps_heading, legend = '<h2 id="batches">Batches: host by host</h2>', ""
    return "".join([
        "<!DOCTYPE html>\n",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % esc(CSP),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title><style>%s</style></head><body><main>" % (esc("Deployment " + title), CSS),
        '<h1>Deployment of %s %s <span class="badge" id="status" style="background:%s">%s</span></h1>' % (
            esc(text(deployment.get("service"))), esc(text(deployment.get("image_tag"))),
            STATUS_COLORS.get(status, "#6e7781"), esc(status)),
        _facts(deployment),
        _timeline_section(deployment, trail),
        steps_heading,
        legend,
        step_html,
        '<p class="reason">Generated %s by progressive.delivery for execution %s.</p>' % (
            esc(generated), esc(text(deployment.get("execution_id")))),
        "</main></body></html>\n",
    ])
