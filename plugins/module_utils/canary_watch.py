# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watch loop of cw_compare as a pure function: when to look, what a look may see, when to stop.

No boto3, no Ansible: the module passes a `fetch(queries, start, end)` that calls GetMetricData and a
clock; the bench passes a simulated CloudWatch and a simulated clock, so both run the same loop.

Timing. CloudWatch buckets datapoints by period from the epoch, and a period's datapoints arrive
`delay` seconds after it ends (ALB: a minute or more). A look therefore happens just after a period
becomes visible (period end + delay), and judges only whole periods that are visible by then: an
incomplete last period would count the candidate's requests of a few seconds against live's, and a
period not yet delivered reads as a quiet one. So a look never waits for a period it cannot see.

Looks are numbered across the whole deployment (`look_offset`, `total_looks`), so the false-fail
budget is spent once over every step's looks, not afresh per watch.
"""

import hashlib
import math

from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge as judge


class SystemClock(object):
    def __init__(self):
        import time
        self._time = time

    def now(self):
        return self._time.time()

    def sleep(self, seconds):
        if seconds > 0:
            self._time.sleep(seconds)


def look_times(start, watch_seconds, period, delay):
    """Epoch times of the looks of a watch of `watch_seconds` from `start`: each just after a whole
    period has become visible (its end + delay), the last one at or after the watch's end so the last
    period the watch covers is seen. At least one look."""
    end = start + watch_seconds
    first_end = math.floor(start / period) * period + period
    times = []
    boundary = first_end
    # bounded: one look per period of the watch, plus the period that straddles its end
    for _i in range(int(watch_seconds // period) + 2):
        times.append(boundary + delay)
        if boundary >= end:
            break
        boundary += period
    return times


def visible_window(start, now, period, delay):
    """[start, end) aligned to whole periods, ending at the last period fully visible at `now`.
    None when no whole period is visible yet."""
    aligned_start = math.floor(start / period) * period
    end = math.floor((now - delay) / period) * period
    if end <= aligned_start:
        return None
    return aligned_start, end


def planned_looks(steps, period, delay=0):
    """Looks a schedule will take ({percent, watch_seconds} per step), for spending over the deployment."""
    total = 0
    for step in steps:
        total += len(look_times(0, max(int(step.get("watch_seconds", 0)), period), period, delay))
    return max(1, total)


def fetch_data(fetch, specs, period, start, end, thresholds=None, sides=judge.SIDES):
    queries, index = judge.build_queries(specs, period, thresholds=thresholds, sides=sides)
    if not queries:
        return {}
    return judge.collect(fetch(queries, start, end), index)


def read_baseline(fetch, specs, period, start, end):
    """Live's data over the pre-deployment window, with each tail metric's reference (live's quantile)."""
    base = fetch_data(fetch, specs, period, start, end, sides=("live",))
    refs = judge.tail_references(specs, base)
    if refs:
        base = fetch_data(fetch, specs, period, start, end, thresholds=refs, sides=("live",))
    return base, refs


class Baseline(object):
    """Live's pre-deployment window, read when a look first needs it and read again only while it may still grow.

    The window lies in the past, so once its last period has been delivered (its end + `delay`) its data is final:
    `final()` returns it with a key (the window, the period and the metrics' queries) for the caller to keep, and a
    later call given it back (`known`) with the same key reads nothing. Data read earlier is read once more when a
    look happens after the window became final (e.g. the first step's first look, the delay after its shift)."""

    def __init__(self, fetch, specs, period, start, end, delay, clock, known=None):
        self._args = (fetch, specs, period, start, end)
        self._ready_at = end + delay
        self._clock = clock
        self.key = baseline_key(specs, period, start, end)
        self._value = None
        self._final = False
        if known and known.get("key") == self.key:
            self._value, self._final = (known.get("data") or {}, known.get("thresholds") or {}), True

    def read(self):
        if not self._final and (self._value is None or self._clock.now() >= self._ready_at):
            self._final = self._clock.now() >= self._ready_at
            self._value = read_baseline(*self._args)
        return self._value

    def final(self):
        """{key, data, thresholds} once read whole, else None."""
        if not self._final:
            return None
        return {"key": self.key, "data": self._value[0], "thresholds": self._value[1]}


def baseline_key(specs, period, start, end):
    """What a baseline's data depends on: its window, period and every metric's queries."""
    queries, dummy = judge.build_queries(specs, period, sides=("live",))
    digest = hashlib.sha256(repr(sorted(repr(sorted(q.items())) for q in queries)).encode("utf-8")).hexdigest()
    return "%d-%d/%d/%s" % (start, end, period, digest[:16])


def look(fetch, specs, period, start, end, thresholds, **evaluate_args):
    """One look at [start, end): fetch, set the tail references, judge.

    While live serves traffic a tail's reference is live's quantile in the same window, so load that
    slows both sides moves the threshold too; against the baseline (100 %) it is the baseline's, and
    so it is for a metric live has no data for now."""
    refs = dict(thresholds or {})
    tails = [s for s in specs if s["kind"] == judge.TAIL]
    if tails and not evaluate_args.get("against_baseline"):
        refs.update(judge.tail_references(tails, fetch_data(fetch, tails, period, start, end)))
    data = fetch_data(fetch, specs, period, start, end, thresholds=refs)
    outcome = judge.evaluate(specs, data, thresholds=refs, **evaluate_args)
    outcome["periods"] = judge.period_series(specs, data)
    outcome["window"] = {"start": judge.iso(start), "end": judge.iso(end)}
    outcome["thresholds"] = refs
    return outcome


def watch(specs, fetch, clock, start, watch_seconds, period, delay=0, alpha=0.01, spending="obrien_fleming",
          spent=None, look_offset=0, total_looks=None, pass_alpha=0.05, power=0.8, baseline=None,
          against_baseline=False, thresholds=None, pass_score=95.0, marginal_score=75.0, end=None):
    """Watch for `watch_seconds` from now, judging the window from `start` (0: one look at the window
    [start, end or now)). `start` may lie before now: a step's evidence pools every step since the
    first shift. `baseline`: collect()-shaped data (its tail references in `thresholds`), or a Baseline
    the looks read as they need it.

    Returns the deciding look's outcome plus watch_looks (this watch's), look (the deployment's look
    number), looks (planned over the deployment), early_exit and decided_at. Stops early on a failure."""
    evaluate_args = dict(alpha=alpha, spending=spending, power=power, pass_alpha=pass_alpha,
                         against_baseline=against_baseline, pass_score=pass_score, marginal_score=marginal_score)

    def judge_window(window, number, looks, spent):
        data, refs = baseline.read() if isinstance(baseline, Baseline) else (baseline, thresholds)
        return look(fetch, specs, period, window[0], window[1], refs, spent=spent, look=number, looks=looks,
                    baseline=data, **evaluate_args)

    if not watch_seconds:
        stop = end if end is not None else clock.now()
        total = total_looks or look_offset + 1
        outcome = judge_window(judge.align_window(start, stop, period), min(look_offset + 1, total), total, spent)
        outcome.update(watch_looks=1, early_exit=False, decided_at=judge.iso(clock.now()))
        return outcome
    times = look_times(clock.now(), watch_seconds, period, delay)
    total = total_looks or look_offset + len(times)
    spent = dict(spent or {})
    outcome = None
    taken = 0
    for i, due in enumerate(times):  # bounded: len(times) looks
        clock.sleep(due - clock.now())
        window = visible_window(start, clock.now(), period, delay)
        if window is None:
            continue
        taken += 1
        outcome = judge_window(window, min(look_offset + i + 1, total), total, spent)
        spent = outcome["spent"]
        if outcome["decision"] == "fail":
            outcome.update(watch_looks=taken, early_exit=i < len(times) - 1, decided_at=judge.iso(clock.now()))
            return outcome
    if outcome is None:  # nothing visible at all (a watch shorter than the delay): one look at what is there
        outcome = judge_window(judge.align_window(start, clock.now(), period), min(look_offset + len(times), total),
                               total, spent)
        taken = 1
    outcome.update(watch_looks=taken, early_exit=False, decided_at=judge.iso(clock.now()))
    return outcome
