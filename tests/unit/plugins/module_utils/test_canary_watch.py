"""canary_watch: looks timed to CloudWatch periods, whole visible periods only, spending across steps."""
import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge as judge
from ansible_collections.progressive.delivery.plugins.module_utils import canary_watch as watch

LB = "app/shop-alb/50dc6c495c0c9188"
LIVE = "targetgroup/shop-a/73e2d6bc24d8a067"
CAND = "targetgroup/shop-b/1f6c3cbd5a9e4f21"


class Clock(object):
    def __init__(self, t):
        self.t = float(t)
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


class FakeCloudWatch(object):
    """Per period (epoch start) and target group: requests and 5xx; data visible `delay` s after the period ends;
    no datapoint for a zero count, as ALB publishes."""

    def __init__(self, clock, period, delay, rates):
        self.clock, self.period, self.delay, self.rates = clock, period, delay, rates
        self.calls = []

    def __call__(self, queries, start, end):
        self.calls.append((start, end, self.clock.now()))
        out = []
        for q in queries:
            stat = q["MetricStat"]
            metric = stat["Metric"]["MetricName"]
            tg = dict((d["Name"], d["Value"]) for d in stat["Metric"]["Dimensions"]).get("TargetGroup")
            stamps, values = [], []
            t = start
            while t < end:  # bounded by the window
                if t + self.period + self.delay <= self.clock.now() and tg in self.rates:
                    requests, errors = self.rates[tg]
                    value = {"RequestCount": requests, "HTTPCode_Target_5XX_Count": errors}.get(metric)
                    if value:
                        stamps.append(datetime.datetime.fromtimestamp(t, datetime.timezone.utc))
                        values.append(float(value))
                t += self.period
            out.append({"Id": q["Id"], "Timestamps": stamps, "Values": values})
        return out


def specs():
    raw = [s for s in judge.preset_specs("alb", load_balancer=LB, live_target_group=LIVE, candidate_target_group=CAND)
           if s["name"] == "error_rate"]
    return judge.normalize_specs(raw)[0]


def test_looks_follow_period_ends_plus_the_delay():
    assert watch.look_times(1000, 30, 10, 3) == [1013, 1023, 1033]
    assert watch.look_times(1005, 30, 10, 3) == [1013, 1023, 1033, 1043]   # the straddling period is seen too
    assert watch.look_times(1000, 0, 60, 0) == [1020]
    assert watch.visible_window(1005, 1012.9, 10, 3) is None
    assert watch.visible_window(1005, 1013, 10, 3) == (1000, 1010)
    assert watch.planned_looks([{"watch_seconds": 300}, {"watch_seconds": 600}], 60) == 15


def test_a_bad_candidate_is_failed_one_period_after_its_data_is_visible():
    clock = Clock(1000)
    cw = FakeCloudWatch(clock, 5, 2, {LIVE: (225, 0), CAND: (25, 5)})
    outcome = watch.watch(specs(), cw, clock, 1000, 40, 5, delay=2, alpha=0.01, spending="pocock")
    assert outcome["decision"] == "fail" and outcome["early_exit"] is True
    assert clock.t == 1007  # the first period [1000, 1005) visible at 1007: decided then, not at the watch's end
    assert all(end <= now - 2 for _start, end, now in cw.calls)  # never a period before it is complete


def test_a_good_candidate_watches_to_the_end_and_spends_across_calls():
    clock = Clock(1000)
    cw = FakeCloudWatch(clock, 5, 2, {LIVE: (2000, 2), CAND: (2000, 2)})
    first = watch.watch(specs(), cw, clock, 1000, 20, 5, delay=2, alpha=0.01, look_offset=0, total_looks=10)
    assert first["decision"] != "fail" and first["watch_looks"] == 4 and first["look"] == 4
    second = watch.watch(specs(), cw, clock, 1000, 45, 5, delay=2, alpha=0.01, spent=first["spent"], look_offset=4,
                         total_looks=10)
    assert second["look"] == 10 and second["spent"]["error_rate"] <= 0.01 + 1e-12
    assert second["window"]["start"] == judge.iso(1000)  # pooled from the first shift


def test_a_fixed_window_is_one_look():
    clock = Clock(2000)
    cw = FakeCloudWatch(clock, 60, 0, {LIVE: (1000, 1), CAND: (1000, 1)})
    outcome = watch.watch(specs(), cw, clock, 1200, 0, 60, end=1800)
    assert outcome["watch_looks"] == 1 and outcome["window"] == {"start": judge.iso(1200), "end": judge.iso(1800)}
    assert clock.sleeps == []


def test_the_baseline_sets_the_tail_reference():
    class TailCloudWatch(object):
        def __call__(self, queries, start, end):
            out = []
            for q in queries:
                stat = q["MetricStat"]["Stat"]
                value = {"p95": 0.2, "SampleCount": 1000.0}.get(stat, 97.0)
                out.append({"Id": q["Id"], "Timestamps": [datetime.datetime.fromtimestamp(start, datetime.timezone.utc)],
                            "Values": [value]})
            return out
    raw = judge.preset_specs("alb", load_balancer=LB, live_target_group=LIVE, candidate_target_group=CAND)
    tail = judge.normalize_specs([s for s in raw if s["name"] == "latency_p95"])[0]
    base, refs = watch.read_baseline(TailCloudWatch(), tail, 60, 0, 600)
    assert refs == {"latency_p95": pytest.approx(0.2)}
    assert base["latency_p95"]["live"]["u"]  # the percentile ranks were read once the reference was known


def test_the_baseline_is_read_again_only_until_final_then_handed_on():
    clock = Clock(1000)
    cw = FakeCloudWatch(clock, 5, 2, {LIVE: (2000, 2), CAND: (200, 0)})
    # the window [900, 1000) ends at the first shift: its last period is delivered at 1002
    base = watch.Baseline(cw, specs(), 5, 900, 1000, 2, clock)
    assert base.final() is None
    watch.watch(specs(), cw, clock, 1000, 0, 5, baseline=base)           # at 1000: read, not final yet
    reads_before = [c for c in cw.calls if c[0] == 900]
    assert len(reads_before) == 1 and base.final() is None
    watch.watch(specs(), cw, clock, 1000, 10, 5, delay=2, baseline=base)  # looks at 1007, 1012: read once more
    reads = [c for c in cw.calls if c[0] == 900]
    assert len(reads) == 2 and reads[1][2] >= 1002
    kept = base.final()
    assert kept["data"]["error_rate"]["live"]["d"] and len(kept["data"]["error_rate"]["live"]["d"]) == 20
    # the next step, given what was kept: no read; another window (or other metrics) reads its own
    again = watch.Baseline(cw, specs(), 5, 900, 1000, 2, clock, known=kept)
    watch.watch(specs(), cw, clock, 1000, 0, 5, baseline=again, against_baseline=True)
    assert len([c for c in cw.calls if c[0] == 900]) == 2 and again.final() == kept
    other = watch.Baseline(cw, specs(), 5, 800, 1000, 2, clock, known=kept)
    assert other.final() is None and other.read()[0]["error_rate"]["live"]["d"]
