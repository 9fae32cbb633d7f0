#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: http_smoke
version_added: 0.1.0
short_description: Smoke-test an HTTP service - a few requests per path, error rate and latency summarised
description:
  - Sends O(requests) GET requests to each of O(paths) under O(base_url) and summarises, per path and overall,
    the error rate and the p50 / p95 latency in milliseconds; fails when the error rate or p95 is above its limit.
  - Used against a candidate through a test listener before it gets production traffic.
  - Exists because M(ansible.builtin.uri) reports elapsed time in whole seconds and one request per task,
    which can neither measure latency nor summarise a burst of requests.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  base_url:
    description:
      - Scheme, host and port, e.g. C(http://myapp-alb-123.us-east-1.elb.amazonaws.com:9000).
      - Only C(http) and C(https); link-local and cloud metadata addresses are refused unless O(allow_link_local=true).
    type: str
    required: true
  paths:
    description: Paths to check, each starting with a single C(/) (on the O(base_url) host).
    type: list
    elements: str
    default: [/health]
  requests:
    description: Requests per path.
    type: int
    default: 10
  expected_status:
    description: Status codes that count as success.
    type: list
    elements: int
    default: [200]
  timeout:
    description: Seconds per request.
    type: float
    default: 5
  max_error_rate:
    description: Highest acceptable share of failed requests (0-1).
    type: float
    default: 0.0
  max_p95_ms:
    description: Highest acceptable p95 latency in milliseconds; no limit when not given.
    type: float
  headers:
    description:
      - Extra request headers (e.g. a Host header for the test listener's rules, or an C(Authorization) token).
      - Treated as secret (C(no_log)) - never shown in output or logs.
    type: dict
    default: {}
  allow_link_local:
    description: Accept a O(base_url) on a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, ...).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Sends only GET requests, so it runs in check mode too.
"""

EXAMPLES = r"""
- name: Smoke-test the candidate through the test listener
  progressive.delivery.http_smoke:
    base_url: "http://{{ alb_dns_name }}:9000"
    paths: [/health, /api/v1/status, /health/db, /health/deps]
    requests: 20
    max_error_rate: 0
    max_p95_ms: 500
"""

RETURN = r"""
passed:
  description: Whether every limit held.
  returned: always
  type: bool
reason:
  description: What failed, or C(all checks passed).
  returned: always
  type: str
requests:
  description: Requests sent.
  returned: always
  type: int
errors:
  description: Requests that failed (status not expected, or no answer).
  returned: always
  type: int
error_rate:
  description: errors / requests.
  returned: always
  type: float
p95_ms:
  description: 95th percentile latency in milliseconds over all requests that answered.
  returned: always
  type: float
paths:
  description: The same per path, with up to three sample errors.
  returned: always
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError

from ansible_collections.progressive.delivery.plugins.module_utils import input_checks
from ansible_collections.progressive.delivery.plugins.module_utils import smoke


def probe(url, timeout, headers, expected):
    start = time.time()
    try:
        response = open_url(url, method="GET", timeout=timeout, headers=headers, validate_certs=True)
        response.read()
        status = response.getcode()
        error = None
    except HTTPError as e:
        status, error = e.code, None
    except Exception as e:  # pylint: disable=broad-except
        return dict(ok=False, status=None, ms=None, error="%s: %s" % (type(e).__name__, e))
    ms = round((time.time() - start) * 1000.0, 1)
    return dict(ok=status in expected, status=status, ms=ms, error=error)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_url=dict(type="str", required=True),
            paths=dict(type="list", elements="str", default=["/health"]),
            requests=dict(type="int", default=10),
            expected_status=dict(type="list", elements="int", default=[200]),
            timeout=dict(type="float", default=5),
            max_error_rate=dict(type="float", default=0.0),
            max_p95_ms=dict(type="float"),
            headers=dict(type="dict", default={}, no_log=True),
            allow_link_local=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problems = input_checks.url_problems("base_url", p["base_url"], p["allow_link_local"]) or (
        [] if p["base_url"] else ["base_url must be an http:// or https:// URL, got an empty string"])
    for path in p["paths"]:
        problems += input_checks.path_problems("paths", path)
    if problems:
        module.fail_json(msg="; ".join(problems))
    if not 1 <= p["requests"] <= 1000:
        module.fail_json(msg="requests must be within 1-1000, got %s" % p["requests"])
    if not 0 <= p["max_error_rate"] <= 1:
        module.fail_json(msg="max_error_rate is a share within 0-1, got %s" % p["max_error_rate"])
    base = p["base_url"].rstrip("/")
    results = []
    for path in p["paths"]:
        url = base + (path if path.startswith("/") else "/" + path)
        for dummy in range(p["requests"]):
            results.append(dict(path=path, **probe(url, p["timeout"], p["headers"], p["expected_status"])))
    summary = smoke.summarise(results, p["max_error_rate"], p["max_p95_ms"])
    if not summary["passed"]:
        module.fail_json(msg="smoke test of %s failed: %s" % (base, summary["reason"]), **summary)
    module.exit_json(changed=False, **summary)


if __name__ == "__main__":
    main()
