"""The lab's load generator: a steady request rate that records every outcome, so "zero downtime" is measured.

Each request's outcome (status or connection error, latency, X-App-Version, X-Lab-Target-Group) is
aggregated per second of sending time and written as one JSON line per second:

  {"t": 1790000000, "sent": 20, "status": {"200": 19, "503": 1}, "conn_errors": 0, "skipped": 0,
   "by_version": {"v1.2.2": 19}, "by_target_group": {"myapp-a": 20}, "latency_ms": [4.1, 5.3, ...]}

A second is written once every request sent in it has finished. `skipped` counts requests not sent
because `concurrency` requests were already in flight (the client, not the server, was saturated).

    python -m lab.traffic start [--rps 20] [--url URL] [--duration S]   # background, pid in STATE_DIR
    python -m lab.traffic stop
    python -m lab.traffic report [--since T] [--until T] [--json]       # T: epoch seconds or ISO 8601
    python -m lab.traffic run ...                                       # foreground

Traffic goes only to loopback and the lab's own VM subnet; every run has a maximum duration.
"""
import argparse
import http.client
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

try:
    from lab import config
except ImportError:  # run as a file from lab/
    import config  # type: ignore

DEFAULT_RPS = 20.0
DEFAULT_PATH = "/api/v1/items"
DEFAULT_CONCURRENCY = 64
DEFAULT_TIMEOUT_S = 5.0
MAX_DURATION_S = 4 * 3600
MAX_RPS = 500.0
PID_FILE = "traffic.pid"
LOG_FILE = "traffic.log"


def default_url():
    return "http://127.0.0.1:%d" % config.LISTENER_LOCAL_PORTS[config.PROD_LISTENER_PORT]


def default_out():
    return Path(config.STATE_DIR) / "traffic.jsonl"


def check_target(url):
    """Refuse any destination outside loopback and the lab's VM subnet."""
    host = urlsplit(url).hostname or ""
    try:
        addr = ipaddress.ip_address(host if host != "localhost" else "127.0.0.1")
    except ValueError:
        raise ValueError("traffic target must be an IP address on loopback or the lab VM subnet, not %r" % host)
    vm_net = ipaddress.ip_network(config.VM_SUBNET + ".0/24")
    if not (addr.is_loopback or addr in vm_net):
        raise ValueError("traffic target %s is outside loopback and the lab VM subnet %s" % (addr, vm_net))
    return url


# ---------------------------------------------------------------- pure parts (unit-tested)

class SecondBucket:
    __slots__ = ("sent", "status", "conn_errors", "skipped", "by_version", "by_tg", "latency_ms", "pending")

    def __init__(self):
        self.sent = self.conn_errors = self.skipped = self.pending = 0
        self.status, self.by_version, self.by_tg = {}, {}, {}
        self.latency_ms = []

    def add(self, status, latency_s, version=None, target_group=None):
        """status None = connection error / timeout."""
        if status is None:
            self.conn_errors += 1
        else:
            key = str(status)
            self.status[key] = self.status.get(key, 0) + 1
            self.latency_ms.append(round(latency_s * 1000.0, 2))
        if version:
            self.by_version[version] = self.by_version.get(version, 0) + 1
        if target_group:
            self.by_tg[target_group] = self.by_tg.get(target_group, 0) + 1

    def to_record(self, second):
        return {"t": second, "sent": self.sent, "status": self.status, "conn_errors": self.conn_errors,
                "skipped": self.skipped, "by_version": self.by_version, "by_target_group": self.by_tg,
                "latency_ms": sorted(self.latency_ms)}


def percentile(sorted_values, q):
    """Nearest-rank percentile (q in 0..100) of an already sorted list; None if empty."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def parse_time(value):
    """Epoch seconds (number or numeric string) or ISO 8601 -> epoch seconds float; None passes."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except ValueError:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()


def summarize(records, since=None, until=None):
    """Aggregate per-second records (dicts as written) within [since, until) into a report dict."""
    since, until = parse_time(since), parse_time(until)
    rows = sorted((r for r in records if (since is None or r["t"] >= since) and (until is None or r["t"] < until)),
                  key=lambda r: r["t"])
    totals = {"sent": 0, "ok_2xx": 0, "failed_5xx": 0, "other_4xx": 0, "conn_errors": 0, "skipped": 0}
    versions, groups, latencies = {}, {}, []
    failures_by_second, share_by_second = [], []
    for r in rows:
        fivexx = sum(n for s, n in r["status"].items() if s.startswith("5"))
        twoxx = sum(n for s, n in r["status"].items() if s.startswith("2"))
        fourxx = sum(n for s, n in r["status"].items() if s.startswith("4"))
        totals["sent"] += r["sent"]
        totals["ok_2xx"] += twoxx
        totals["failed_5xx"] += fivexx
        totals["other_4xx"] += fourxx
        totals["conn_errors"] += r["conn_errors"]
        totals["skipped"] += r.get("skipped", 0)
        for v, n in r["by_version"].items():
            versions[v] = versions.get(v, 0) + n
        for g, n in r.get("by_target_group", {}).items():
            groups[g] = groups.get(g, 0) + n
        latencies.extend(r["latency_ms"])
        if fivexx or r["conn_errors"]:
            failures_by_second.append({"t": r["t"], "5xx": fivexx, "conn_errors": r["conn_errors"],
                                       "status": {s: n for s, n in r["status"].items() if s.startswith("5")}})
        answered = sum(r["by_version"].values())
        share_by_second.append({"t": r["t"], "sent": r["sent"],
                                "share": {v: round(n / answered, 4) for v, n in sorted(r["by_version"].items())}
                                if answered else {}})
    latencies.sort()
    failures = totals["failed_5xx"] + totals["conn_errors"]
    return {
        "since": rows[0]["t"] if rows else since,
        "until": rows[-1]["t"] + 1 if rows else until,
        "seconds": len(rows),
        "totals": totals,
        "failures": failures,
        "failure_rate": round(failures / totals["sent"], 6) if totals["sent"] else None,
        "failures_by_second": failures_by_second,
        "by_version": versions,
        "by_target_group": groups,
        "share_by_second": share_by_second,
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99), "max": latencies[-1] if latencies else None},
    }


def read_records(path):
    records = []
    path = Path(path)
    if not path.exists():
        return records
    with path.open() as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue    # a line cut by a crash is skipped, not fatal
    return records


def report(path=None, since=None, until=None):
    """Summary dict of the records in path (default STATE_DIR/traffic.jsonl) within [since, until)."""
    return summarize(read_records(path or default_out()), since, until)


def _clock(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S")


def format_report(rep, max_rows=60):
    """A printable table of a report() dict."""
    t = rep["totals"]
    lines = []
    if not rep["seconds"]:
        return "no traffic recorded in the window\n"
    lines.append("traffic %s .. %s UTC (%d s)" % (_clock(rep["since"]), _clock(rep["until"]), rep["seconds"]))
    lines.append("sent %d  2xx %d  5xx %d  4xx %d  conn errors %d  skipped %d  failure rate %s" % (
        t["sent"], t["ok_2xx"], t["failed_5xx"], t["other_4xx"], t["conn_errors"], t["skipped"],
        "%.4f%%" % (100 * rep["failure_rate"]) if rep["failure_rate"] is not None else "-"))
    lat = rep["latency_ms"]
    fmt = lambda v: "-" if v is None else "%.1f" % v  # noqa: E731
    lines.append("latency ms  p50 %s  p95 %s  p99 %s  max %s" % (fmt(lat["p50"]), fmt(lat["p95"]),
                                                                 fmt(lat["p99"]), fmt(lat["max"])))
    lines.append("by version: " + ", ".join("%s %d" % kv for kv in sorted(rep["by_version"].items())))
    if rep["failures_by_second"]:
        lines.append("")
        lines.append("failures by second:")
        lines.append("  %-8s %6s %6s  %s" % ("time", "5xx", "conn", "codes"))
        for f in rep["failures_by_second"][:max_rows]:
            lines.append("  %-8s %6d %6d  %s" % (_clock(f["t"]), f["5xx"], f["conn_errors"],
                                                 " ".join("%s:%d" % kv for kv in sorted(f["status"].items()))))
        if len(rep["failures_by_second"]) > max_rows:
            lines.append("  ... %d more" % (len(rep["failures_by_second"]) - max_rows))
    versions = sorted(rep["by_version"])
    if versions:
        lines.append("")
        lines.append("share by version per second:")
        lines.append("  %-8s %5s " % ("time", "sent") + " ".join("%12s" % v for v in versions))
        rows = rep["share_by_second"]
        for s in rows[-max_rows:]:
            lines.append("  %-8s %5d " % (_clock(s["t"]), s["sent"]) +
                         " ".join("%11.1f%%" % (100 * s["share"].get(v, 0)) for v in versions))
        if len(rows) > max_rows:
            lines.insert(len(lines) - max_rows, "  (last %d of %d seconds)" % (max_rows, len(rows)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the generator

class TrafficGenerator:
    """Steady `rps` requests to url+path, at most `concurrency` in flight, for at most `max_duration` s."""

    def __init__(self, url=None, rps=DEFAULT_RPS, path=DEFAULT_PATH, out=None, concurrency=DEFAULT_CONCURRENCY,
                 timeout=DEFAULT_TIMEOUT_S, max_duration=MAX_DURATION_S, append=False):
        self.url = check_target(url or default_url())
        split = urlsplit(self.url)
        self.host, self.port = split.hostname, split.port or 80
        self.path = (split.path.rstrip("/") + path) if path else (split.path or "/")
        if not 0 < float(rps) <= MAX_RPS:
            raise ValueError("rps must be in (0, %d], not %r" % (MAX_RPS, rps))
        self.rps = float(rps)
        self.out = Path(out or default_out())
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_duration = min(float(max_duration), MAX_DURATION_S)
        self.append = append
        self._buckets = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._stop = threading.Event()
        self._threads = []
        self._workers = set()
        self.started_at = None
        self.sent = 0

    # one request, on its own short-lived thread (bounded by the semaphore)
    def _one(self, second):
        status = version = tg = None
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"User-Agent": "lab-traffic"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            version = resp.getheader("X-App-Version")
            tg = resp.getheader("X-Lab-Target-Group")
        except (OSError, http.client.HTTPException):
            status = None
        finally:
            conn.close()
            latency = time.monotonic() - t0
            with self._lock:
                bucket = self._buckets[second]
                bucket.add(status, latency, version, tg)
                bucket.pending -= 1
                self._workers.discard(threading.current_thread())
            self._slots.release()

    def _send_loop(self):
        start = time.time()
        interval = 1.0 / self.rps
        i = 0
        while not self._stop.is_set():
            due = start + i * interval
            if due - start >= self.max_duration:
                break
            delay = due - time.time()
            if delay > 0 and self._stop.wait(delay):
                break
            second = int(due)
            with self._lock:
                bucket = self._buckets.get(second)
                if bucket is None:
                    bucket = self._buckets[second] = SecondBucket()
                bucket.sent += 1
                if self._slots.acquire(blocking=False):
                    bucket.pending += 1
                    worker = threading.Thread(target=self._one, args=(second,), daemon=True)
                    self._workers.add(worker)
                    worker.start()
                else:
                    bucket.skipped += 1
            self.sent += 1
            i += 1
        self._stop.set()

    def _flush(self, final=False):
        now = time.time()
        with self._lock:
            done = sorted(s for s, b in self._buckets.items() if (final or s + 1 <= now) and b.pending == 0)
            records = [self._buckets.pop(s).to_record(s) for s in done]
        if records:
            with self.out.open("a") as f:
                for r in records:
                    f.write(json.dumps(r, separators=(",", ":")) + "\n")
        return len(records)

    def _flush_loop(self):
        while not self._stop.wait(0.5):
            self._flush()

    def start(self):
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if not self.append:
            self.out.write_text("")
        self.started_at = time.time()
        for name, target in (("lab-traffic-send", self._send_loop), ("lab-traffic-flush", self._flush_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def wait(self, timeout=None):
        """Block until max_duration ends (or stop()); True when finished."""
        return self._stop.wait(timeout)

    def stop(self):
        """Stop sending, let in-flight requests finish (bounded by the request timeout), write everything."""
        self._stop.set()
        for t in self._threads:
            t.join(2)
        with self._lock:
            workers = list(self._workers)
        deadline = time.time() + self.timeout + 1
        for w in workers:
            w.join(max(0.0, deadline - time.time()))
        self._flush(final=True)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- background control (the lab CLI delegates here)

def _pid_path():
    return Path(config.STATE_DIR) / PID_FILE


def _running_pid():
    try:
        pid = int(_pid_path().read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    try:
        cmdline = Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return None
    return pid if b"lab.traffic" in cmdline else None


def start_background(rps=DEFAULT_RPS, url=None, path=DEFAULT_PATH, out=None, duration=MAX_DURATION_S,
                     concurrency=DEFAULT_CONCURRENCY, append=False):
    """Start `python -m lab.traffic run` detached; returns its pid. One generator at a time."""
    if _running_pid():
        raise RuntimeError("traffic already running (pid %d); stop it first" % _running_pid())
    url = check_target(url or default_url())
    out = Path(out or default_out())
    state = Path(config.STATE_DIR)
    state.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lab.traffic", "run", "--url", url, "--rps", str(rps), "--path", path,
           "--out", str(out), "--duration", str(duration), "--concurrency", str(concurrency)]
    if append:
        cmd.append("--append")
    else:
        out.unlink(missing_ok=True)
    with (state / LOG_FILE).open("a") as log:
        proc = subprocess.Popen(cmd, cwd=str(config.REPO), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _pid_path().write_text("%d\n" % proc.pid)
    # ready when the output file has been (re)created by the child
    deadline = time.time() + 5
    while time.time() < deadline and proc.poll() is None:
        if out.exists():
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        raise RuntimeError("traffic generator exited at once (rc %s); see %s" % (proc.returncode, state / LOG_FILE))
    return proc.pid


def stop_background(timeout=10.0):
    """SIGTERM the background generator and wait for it to write its last seconds; True if one was running."""
    pid = _running_pid()
    if not pid:
        _pid_path().unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        try:   # reap it if it is our own child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    _pid_path().unlink(missing_ok=True)
    return True


def status_background():
    pid = _running_pid()
    return {"running": bool(pid), "pid": pid, "out": str(default_out())}


def _run_foreground(args):
    gen = TrafficGenerator(args.url, args.rps, args.path, args.out, args.concurrency, max_duration=args.duration,
                           append=args.append)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stopping.set())
    signal.signal(signal.SIGINT, lambda *a: stopping.set())
    gen.start()
    print("lab traffic: %.1f rps to %s%s for at most %ds, recording to %s" % (
        gen.rps, gen.url, gen.path, gen.max_duration, gen.out), flush=True)
    while not stopping.is_set() and not gen.wait(0.2):
        pass
    gen.stop()
    print("lab traffic: stopped after %d requests" % gen.sent, flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.traffic", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("start", "run"):
        p = sub.add_parser(name)
        p.add_argument("--url", default=None)
        p.add_argument("--rps", type=float, default=DEFAULT_RPS)
        p.add_argument("--path", default=DEFAULT_PATH)
        p.add_argument("--out", default=None)
        p.add_argument("--duration", type=float, default=MAX_DURATION_S)
        p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
        p.add_argument("--append", action="store_true", help="keep earlier records in the output file")
    sub.add_parser("stop")
    sub.add_parser("status")
    p = sub.add_parser("report")
    p.add_argument("--out", default=None)
    p.add_argument("--since", default=None)
    p.add_argument("--until", default=None)
    p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        return _run_foreground(args)
    if args.cmd == "start":
        pid = start_background(args.rps, args.url, args.path, args.out, args.duration, args.concurrency, args.append)
        print("lab traffic started (pid %d, %.1f rps)" % (pid, args.rps))
        return 0
    if args.cmd == "stop":
        print("lab traffic stopped" if stop_background() else "lab traffic was not running")
        return 0
    if args.cmd == "status":
        print(json.dumps(status_background()))
        return 0
    rep = report(args.out, args.since, args.until)
    sys.stdout.write(json.dumps(rep, indent=2) + "\n" if args.json else format_report(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
