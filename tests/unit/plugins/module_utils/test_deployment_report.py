"""deployment_report: the self-contained HTML page of a deployment - facts, timeline, decisions, charts."""
import html.parser
import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.deployment_report import deployment_report_html
from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report as report

from report_sample import START, deployment

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
SVG_LEAVES = {"rect", "line", "circle", "polyline", "path", "stop"}


class Page(html.parser.HTMLParser):
    """Elements, attributes and text of a page; fails on a closing tag that does not match the open one."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.attrs, self.text, self.errors = [], [], [], [], []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack else None))
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self):
        return " ".join(" ".join(self.text).split())


def page_of(**kwargs):
    record, trail = deployment(**kwargs)
    return report.render(record, trail, generated_at="2026-11-27T00:00:00Z")


def test_a_successful_deployment_has_facts_timeline_decisions_and_charts():
    text = page_of()
    page = Page(text)
    assert page.errors == [] and page.stack == []
    words = page.all_text
    assert "Deployment of myapp v1.2.3 SUCCEEDED" in words
    assert "sha256:abc" in words and "myapp:7" in words and "a (live) -> b (candidate)" in words and "2m 05s" in words
    # Per step: the decision, and per metric the verdict numbers as cw_compare gave them.
    assert len(re.findall(r'<section class="step"', text)) == 3
    assert "Step 1: 10 % to the candidate - pass" in words and "Step 3: 100 % to the candidate - inconclusive" in words
    assert "0.200 %" in words and "p-value" in words and "\u00d73.10" in words and "detectable (MDE)" in words
    # A chart per metric per step (error rate, its requests, latency) and the traffic-over-time chart.
    assert page.tags.count("svg") == 3 * 3 + 1
    polylines = [v for tag, k, v in page.attrs if tag == "polyline" and k == "stroke"]
    assert polylines.count(report.LIVE_COLOR) == 9 and polylines.count(report.CANDIDATE_COLOR) == 9
    assert polylines.count(report.TRAFFIC_COLOR) == 1
    points = [v for tag, k, v in page.attrs if tag == "polyline" and k == "points"]
    assert all(len(p.split()) == 8 for p in points[1:]), points  # every period of the step drawn
    assert "50.0 ms" in words  # TargetResponseTime in seconds, shown in ms


def test_timeline_is_in_time_order_and_leaves_other_executions_out():
    record, trail = deployment()
    events = report.timeline(record, trail)
    assert [e["label"] for e in events] == ["Started", "Validated", "Green deployed, smoke-tested", "Traffic 10 %",
                                            "Traffic 50 %", "Traffic 100 %", "Cleaned up", "Finished"]
    assert events[2]["detail"] == "task definition myapp:7 on myapp-b; smoke: 30 requests, 0 errors, p95 12.5 ms"
    assert events[-1]["decision"] == "SUCCEEDED"
    assert "OLD-EXECUTION" not in report.render(record, trail)
    assert report.traffic_path(record, trail) == [(START, 0.0), (START + 40, 10.0), (START + 81, 50.0),
                                                  (START + 102, 100.0), (START + 125, 100.0)]


def test_without_a_trail_the_timeline_comes_from_the_steps():
    record, _ = deployment()
    labels = [e["label"] for e in report.timeline(record)]
    assert labels == ["Started", "Traffic 10 %", "Traffic 50 %", "Traffic 100 %", "Finished"]


def test_a_rolled_back_deployment_says_why_and_when_traffic_went_back():
    text = page_of(rolled_back=True)
    page = Page(text)
    assert page.errors == []
    words = page.all_text
    assert "ROLLED BACK" in words and "critical metric failed: error_rate" in words
    assert "Step 2: 50 % to the candidate - fail" in words and "early exit" in words
    assert "Rolled back" in words and "all traffic back to live" in words
    assert "8.000 %" in words  # the candidate's failing error rate
    record, trail = deployment(rolled_back=True)
    path = report.traffic_path(record, trail)
    assert path[-2:] == [(START + 99, 0.0), (START + 100, 0.0)]
    assert [e["phase"] for e in report.timeline(record, trail)][-3:] == ["shift", "rollback", "end"]
    assert re.search(r'id="status" style="background:%s"' % report.STATUS_COLORS["ROLLED BACK"], text)


def test_everything_user_controlled_is_escaped():
    record, trail = deployment(service="<script>alert(1)</script>", image_tag='v1"><img src=x onerror=alert(2)>')
    record["steps"][0]["metrics"][0]["reason"] = "<b>bold</b> & 'quoted'"
    record["steps"][0]["periods"][0]["name"] = "</svg><script>x</script>"
    trail[1]["candidate_service"] = "<iframe src=//evil.example>"
    text = report.render(record, trail)
    page = Page(text)
    assert page.errors == []
    assert not {"script", "img", "iframe", "b"} & set(page.tags)
    assert "<script>alert(1)</script>" in page.all_text and "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27;" in text
    assert "<iframe src=//evil.example>" in page.all_text


def test_the_page_fetches_nothing():
    for text in (page_of(), page_of(rolled_back=True)):
        page = Page(text)
        assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use", "audio", "video"} & set(page.tags)
        for tag, key, value in page.attrs:
            assert key not in ("src", "href", "xlink:href", "action", "srcset", "poster"), (tag, key, value)
            if key != "xmlns":
                assert not re.search(r"(https?:)?//", value), (tag, key, value)
        assert "url(" not in text and "@import" not in text
        csp = [v for tag, k, v in page.attrs if tag == "meta" and k == "content" and "default-src" in v]
        assert csp == [report.CSP] and "default-src 'none'" in report.CSP


def test_partial_and_stringly_input_still_renders():
    # Jinja may hand numbers over as text; a step can miss its periods; a deployment can have no step at all.
    record, trail = deployment()
    record["steps"][0]["percent"] = "10"
    record["steps"][0]["metrics"][0]["p_value"] = "0.5"
    del record["steps"][1]["periods"]
    record["steps"][2]["periods"][0]["points"] = []
    text = report.render(record, trail)
    assert Page(text).errors == []
    assert "Step 1: 10 % to the candidate" in Page(text).all_text
    assert "no data in this window" in text
    assert Page(report.render({})).errors == [] and "no traffic step was taken" in report.render({})
    assert "IN PROGRESS" in report.render({"steps": "not a list"})


def test_chart_breaks_the_line_at_missing_periods_and_draws_a_single_point():
    chart = report.line_chart("t", [("live", "#000001", [(0, 1.0), (5, None), (10, 2.0), (15, 3.0)]),
                                    ("candidate", "#000002", [(0, 4.0)])], str)
    assert chart.count('stroke="#000001"') == 2  # two runs around the gap
    assert len(re.findall(r'<circle [^>]*fill="#000001"', chart)) == 3
    assert len(re.findall(r'<circle [^>]*fill="#000002"', chart)) == 1
    assert Page(chart).errors == []


def test_an_all_zero_error_rate_is_drawn_on_a_one_percent_axis_not_a_hundred():
    record, _ = deployment()
    periods = record["steps"][0]["periods"][0]
    for point in periods["points"]:
        point["live"] = point["candidate"] = 0.0
    chart = report.step_charts({"percent": 10, "periods": [periods]})[0]
    labels = re.findall(r'text-anchor="end">([^<]*)</text>', chart)
    assert labels[:5] == ["0 %", "0.25 %", "0.5 %", "0.75 %", "1 %"]
    latency = report.step_charts(record["steps"][0])[2]
    assert re.findall(r'text-anchor="end">([^<]*)</text>', latency)[4] == "100 ms"


def test_formatting():
    assert report.fmt_value(0.0018, proportion=True) == "0.180 %"
    assert report.fmt_value(0.0512, unit="s") == "51.2 ms"
    assert report.fmt_value("12") == "12" and report.fmt_value(None) == "-" and report.fmt_value("n/a") == "-"
    assert report.fmt_change(0.5) == "+50.0 %" and report.fmt_p(1e-30) == "1e-30" and report.fmt_mde(9.1) == "\u00d79.10"
    assert report.duration(3725) == "1h 02m 05s" and report.duration(None) == "-"
    assert report.parse_time("2026-11-26T10:00:00Z") == report.parse_time("2026-11-26T10:00:00+00:00") == 1795687200.0
    assert report.parse_time("soon") is None and report.parse_time(float("nan")) is None


def test_filter_checks_its_input():
    record, trail = deployment()
    assert deployment_report_html(record, trail).startswith("<!DOCTYPE html>")
    with pytest.raises(AnsibleFilterError, match="as a dict"):
        deployment_report_html("myapp")
    with pytest.raises(AnsibleFilterError, match="trail must be a list"):
        deployment_report_html(record, "trail")
