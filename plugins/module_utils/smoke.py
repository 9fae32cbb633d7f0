# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summaries of smoke-test requests, as pure functions."""

import math
import os
import re


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


HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def host_header(server_name, port, https):
    """The Host header for server_name: with the port unless it is the scheme's default."""
    default = 443 if https else 80
    return server_name if port == default else "%s:%d" % (server_name, port)


def tls_input_problem(base_url, ca_path, server_name):
    """What is wrong with the TLS inputs, naming the input; None when they are usable."""
    if server_name is not None and not HOSTNAME.match(server_name):
        return ("server_name must be a DNS name (no scheme, port or path), e.g. myapp.example.com, got %r"
                % server_name)
    if ca_path and not os.path.isfile(ca_path):
        return "ca_path %s is not a file: give the PEM bundle of the CA that signed the listener's certificate" % ca_path
    if ca_path and not base_url.startswith("https://"):
        return "ca_path is only used with an https:// base_url, got %s" % base_url
    return None


def tls_hint(errors, host, server_name, ca_path):
    """When requests failed certificate validation: what to set so that it passes (never: turn validation off).
    "" when no error is a certificate error."""
    text = " ".join(e for e in errors if e)
    lowered = text.lower()
    if "certificate" not in lowered and "ssl" not in lowered and "tls" not in lowered:
        return ""
    name = server_name or host
    mismatch = ("hostname mismatch" in lowered or "doesn't match" in lowered or "not valid for" in lowered
                or "does not match" in lowered)
    untrusted = ("unable to get local issuer" in lowered or "self-signed" in lowered or "self signed" in lowered
                 or "unknown ca" in lowered or ("certificate verify failed" in lowered and not mismatch))
    hints = []
    if untrusted:
        hints.append("the listener's certificate is not signed by a CA %s: set ca_path (role: "
                     "ecs_green_deploy_smoke_ca_path) to the PEM bundle of the CA that signed it"
                     % ("in ca_path %s" % ca_path if ca_path else "this host trusts"))
    if mismatch:
        hints.append("the listener's certificate does not cover %s: set server_name (role: "
                     "ecs_green_deploy_smoke_server_name) to a name it covers: your service's name on the certificate, "
                     "e.g. a Route 53 alias of the load balancer" % name)
    if not hints:
        hints.append("the TLS connection to %s failed: check that the listener is HTTPS, that ca_path (role: "
                     "ecs_green_deploy_smoke_ca_path) holds the CA that signed its certificate, and that server_name "
                     "(role: ecs_green_deploy_smoke_server_name) is a name the certificate covers" % name)
    return "certificate validation failed - " + "; ".join(hints)
