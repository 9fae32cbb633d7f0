# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summaries of smoke-test requests, as pure functions."""

import math


def percentile(values, q):
    """Nearest-rank percentile (q in 0-100) of a list of numbers; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def summarise(results, max_error_rate, max_p95_ms):
    """results: [{path, ok, status, ms, error}] -> per-path and overall summary, with a verdict and why."""
    paths = []
    for path in sorted(set(r["path"] for r in results)):
        mine = [r for r in results if r["path"] == path]
        errors = [r for r in mine if not r["ok"]]
        latencies = [r["ms"] for r in mine if r["ms"] is not None]
        paths.append(dict(path=path, requests=len(mine), errors=len(errors),
                          error_rate=round(float(len(errors)) / len(mine), 4) if mine else 0.0,
                          p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
                          sample_errors=sorted(set(r["error"] or "HTTP %s" % r["status"] for r in errors))[:3]))
    total = len(results)
    failed = sum(1 for r in results if not r["ok"])
    error_rate = float(failed) / total if total else 1.0
    p95 = percentile([r["ms"] for r in results if r["ms"] is not None], 95)
    problems = []
    if not total:
        problems.append("no request was made")
    if error_rate > max_error_rate:
        bad = ["%s %d/%d failed (%s)" % (p["path"], p["errors"], p["requests"], ", ".join(p["sample_errors"])) for p in paths if p["errors"]]
        problems.append("error rate %.1f%% above %.1f%%: %s" % (100 * error_rate, 100 * max_error_rate, "; ".join(bad)))
    if p95 is not None and max_p95_ms is not None and p95 > max_p95_ms:
        problems.append("p95 latency %.0f ms above %.0f ms" % (p95, max_p95_ms))
    return dict(passed=not problems, reason="; ".join(problems) or "all checks passed", requests=total, errors=failed,
                error_rate=round(error_rate, 4), p95_ms=p95, paths=paths)
