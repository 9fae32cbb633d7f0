"""The deployment report as people see it: rendered by headless Chromium, checked on the screenshot's pixels.

The page must draw (not blank; live and candidate series in their colours, in like amounts; the status badge in the
status's colour) and must fetch nothing: Chromium runs with every http(s) request sent to a counting proxy on
loopback, and a control page that does fetch proves the proxy would have seen it.

Needs Debian's `chromium` (tools/setup.sh installs it). Skipped without it, unless CI is set.
"""
import http.server
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import threading
import zlib

import numpy
import pytest

from harness import REPO

from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report as report

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
WIDTH, HEIGHT = 1280, 2000
HEADER_ROWS = 80  # the title and its status badge
# Chromium's own service traffic (updates, network time, sign-in, optimisation hints) that flags do not all silence;
# it is the browser's, not the page's. The page naming no URL at all is checked in the renderer's unit tests.
BROWSER_SERVICES = re.compile(r"^[A-Z]+ (https?://)?[a-z0-9.-]*\.(google\.com|googleapis\.com|gvt1\.com)(:\d+)?(/|$)")

pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="chromium is not installed (tools/setup.sh installs it; required when CI is set)")


def sample():
    spec = importlib.util.spec_from_file_location(
        "report_sample", REPO / "tests" / "unit" / "plugins" / "module_utils" / "report_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CountingProxy(object):
    """An HTTP proxy on loopback that answers 502 to everything and remembers what was asked."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _refuse(self):
                seen.append("%s %s" % (self.command, self.path))
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_CONNECT = do_PUT = do_OPTIONS = _refuse

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def screenshot(page, tmp_path, proxy_url, name):
    png = tmp_path / ("%s.png" % name)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-extensions", "--force-color-profile=srgb",
           "--disable-client-side-phishing-detection", "--disable-domain-reliability", "--no-pings",
           "--disable-features=OptimizationHints,OptimizationHintsFetching,OptimizationGuideModelDownloading,"
           "NetworkTimeServiceQuerying,Translate,MediaRouter,AutofillServerCommunication",
           "--force-device-scale-factor=1", "--hide-scrollbars",
           "--proxy-server=%s" % proxy_url, "--proxy-bypass-list=<-loopback>",
           "--user-data-dir=%s" % (tmp_path / ("profile-" + name)),
           "--screenshot=%s" % png, "--window-size=%d,%d" % (WIDTH, HEIGHT), page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and png.exists(), proc.stderr[-3000:]
    return decode_png(png.read_bytes())


def decode_png(data):
    """RGB pixels (height x width x 3 uint8) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    rows = numpy.zeros((height, stride), dtype=numpy.uint8)
    prev = numpy.zeros(stride, dtype=numpy.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = numpy.frombuffer(raw, dtype=numpy.uint8, count=stride, offset=y * (stride + 1) + 1).astype(numpy.int32)
        if kind == 0:
            out = line
        elif kind == 1:  # Sub: running sum per channel
            out = numpy.cumsum(line.reshape(width, bpp), axis=0).reshape(stride) & 255
        elif kind == 2:  # Up
            out = (line + prev) & 255
        else:  # Average / Paeth depend on the pixel just decoded: byte by byte
            cur, last = line.tolist(), prev.tolist()
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                up = last[i]
                if kind == 3:
                    cur[i] = (cur[i] + ((left + up) >> 1)) & 255
                else:
                    corner = last[i - bpp] if i >= bpp else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    cur[i] = (cur[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
            out = numpy.array(cur, dtype=numpy.int32)
        rows[y] = out
        prev = out
    return rows.reshape(height, width, bpp)[:, :, :3]


def count(pixels, hex_color, tolerance=8):
    target = numpy.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=numpy.int32)
    return int((numpy.abs(pixels.astype(numpy.int32) - target).max(axis=2) <= tolerance).sum())


@pytest.fixture(scope="module")
def proxy():
    with CountingProxy() as running:
        yield running


def page_fetches(seen):
    return [line for line in seen if not BROWSER_SERVICES.match(line)]


def render(tmp_path, name, **kwargs):
    record, trail = sample().deployment(**kwargs)
    page = tmp_path / ("%s.html" % name)
    page.write_text(report.render(record, trail), encoding="utf-8")
    return page


def test_a_successful_deployment_report_draws_its_charts_and_fetches_nothing(tmp_path, proxy):
    pixels = screenshot(render(tmp_path, "succeeded"), tmp_path, proxy.url, "succeeded")
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    white = count(pixels, "#ffffff", tolerance=2)
    assert white < 0.97 * WIDTH * HEIGHT, "the page is (nearly) blank"
    assert len(numpy.unique(pixels.reshape(-1, 3), axis=0)) > 50
    live, candidate = count(pixels, report.LIVE_COLOR), count(pixels, report.CANDIDATE_COLOR)
    traffic = count(pixels, report.TRAFFIC_COLOR)
    # Three charts per step, each with a live and a candidate series (same number of periods): like amounts.
    assert live > 1500 and candidate > 1500, (live, candidate)
    assert 0.5 < float(live) / candidate < 2.0, (live, candidate)
    assert traffic > 500, traffic  # the production-traffic step chart of the timeline
    header = pixels[:HEADER_ROWS]
    assert count(header, report.STATUS_COLORS["SUCCEEDED"]) > 300
    assert count(header, report.STATUS_COLORS["ROLLED BACK"]) == 0
    assert page_fetches(proxy.seen) == [], proxy.seen


def test_the_proxy_sees_a_page_that_fetches(tmp_path, proxy):
    """Control: without the report's guarantees a page's fetch reaches the proxy, so `seen == []` above means something."""
    page = tmp_path / "fetching.html"
    page.write_text('<!DOCTYPE html><html><body><p>fetching</p><img src="http://report-assets.example/chart.png">'
                    '</body></html>', encoding="utf-8")
    before = len(proxy.seen)
    screenshot(page, tmp_path, proxy.url, "fetching")
    assert any("report-assets.example" in line for line in page_fetches(proxy.seen[before:])), proxy.seen
