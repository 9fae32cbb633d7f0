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
  validate_certs:
    description:
      - Validate the HTTPS certificate of O(base_url) (or of O(server_name)) against O(ca_path), or against the
        system's trusted CAs when O(ca_path) is not given.
      - Keep it on. When validation fails, the error says what to set (O(ca_path), O(server_name)).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificate(s) that signed the listener's certificate, e.g. a private CA's bundle.
      - Only these CAs are trusted then, not the system's.
    type: path
  server_name:
    description:
      - Name to validate the certificate against, sent as TLS SNI and as the HTTP C(Host) header, while the
        connection still goes to the host of O(base_url).
      - Use it when O(base_url) names the load balancer by an address or a name its certificate does not cover
        (its own C(*.elb.amazonaws.com) DNS name, an IP) but the listener's certificate covers the service's
        name, e.g. C(myapp.example.com), a Route 53 alias of the load balancer.
      - A C(Host) given in O(headers) wins for the HTTP header; SNI and validation use O(server_name).
    type: str
  allow_link_local:
    description: Accept a O(base_url) on a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, ...).
    type: bool
    default: false
attributes:
  check_mode:
    description: Sends only GET requests, so it runs in check mode too.
extends_documentation_fragment: [progressive.delivery.attributes]
"""

EXAMPLES = r"""
- name: Smoke-test the candidate through the test listener
  progressive.delivery.http_smoke:
    base_url: "http://{{ alb_dns_name }}:9000"
    paths: [/health, /api/v1/status, /health/db, /health/deps]
    requests: 20
    max_error_rate: 0
    max_p95_ms: 500

- name: Smoke-test over HTTPS by the load balancer's DNS name, validating a private CA's certificate for the service's name
  progressive.delivery.http_smoke:
    base_url: "https://{{ alb_dns_name }}:9000"
    server_name: myapp.example.com
    ca_path: /etc/pki/myorg/ca-bundle.pem
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

import http.client
import ssl
import time
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError

from ansible_collections.progressive.delivery.plugins.module_utils import input_checks
from ansible_collections.progressive.delivery.plugins.module_utils import smoke


class NamedTLSConnection(http.client.HTTPConnection):
    """HTTPS to the URL's host and port, speaking TLS as `server_name` (SNI and certificate validation)."""

    default_port = 443

    def __init__(self, host, port, server_name, context, timeout):
        http.client.HTTPConnection.__init__(self, host, port, timeout=timeout)
        self.tls_server_name = server_name
        self.tls_context = context

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self.tls_context.wrap_socket(self.sock, server_hostname=self.tls_server_name)


def tls_context(validate_certs, ca_path):
    context = ssl.create_default_context(cafile=ca_path or None)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def get_as(url, server_name, timeout, headers, context):
    """GET url, connecting to its host but presenting server_name (SNI, Host); the status code."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    if https:
        conn = NamedTLSConnection(parts.hostname, port, server_name, context, timeout)
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    request_headers = dict(headers)
    if not any(k.lower() == "host" for k in request_headers):
        request_headers["Host"] = smoke.host_header(server_name, port, https)
    try:
        conn.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""), headers=request_headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def probe(url, timeout, headers, expected, tls=None):
    """One GET; tls: {validate_certs, ca_path, server_name, context}."""
    tls = tls or dict(validate_certs=True, ca_path=None, server_name=None, context=None)
    start = time.time()
    try:
        if tls.get("server_name"):
            status = get_as(url, tls["server_name"], timeout, headers, tls["context"])
        else:
            response = open_url(url, method="GET", timeout=timeout, headers=headers,
                                validate_certs=tls["validate_certs"], ca_path=tls["ca_path"])
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
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            server_name=dict(type="str"),
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
    tls_problem = smoke.tls_input_problem(p["base_url"], p["ca_path"], p["server_name"])
    if tls_problem:
        module.fail_json(msg=tls_problem)
    if not p["validate_certs"] and p["base_url"].startswith("https://"):
        module.warn("validate_certs is off: the smoke test cannot tell the candidate from anything answering on %s; "
                    "give ca_path / server_name instead" % p["base_url"])
    tls = dict(validate_certs=p["validate_certs"], ca_path=p["ca_path"], server_name=p["server_name"],
               context=tls_context(p["validate_certs"], p["ca_path"]) if p["server_name"] else None)
    base = p["base_url"].rstrip("/")
    results = []
    for path in p["paths"]:
        url = base + (path if path.startswith("/") else "/" + path)
        for dummy in range(p["requests"]):
            results.append(dict(path=path, **probe(url, p["timeout"], p["headers"], p["expected_status"], tls)))
    summary = smoke.summarise(results, p["max_error_rate"], p["max_p95_ms"])
    if not summary["passed"]:
        hint = smoke.tls_hint([r["error"] for r in results if r["error"]], urlsplit(base).hostname,
                              p["server_name"], p["ca_path"])
        module.fail_json(msg="smoke test of %s failed: %s%s" % (base, summary["reason"], hint and "; " + hint),
                         **summary)
    module.exit_json(changed=False, **summary)


if __name__ == "__main__":
    main()
