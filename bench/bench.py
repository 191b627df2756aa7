#!/usr/bin/env python3
"""make bench: Tally's performance figures, each beside its limit or
target, measured in one run on this machine.

Runs the real binaries (bin/) and the bench tools (build/bench/limit,
build/bench/loadgen) on free loopback ports in a temp dir, prints one
table and writes it as JSON to bench/out/results.json.  Every process it
starts is stopped by PID when it is done with it, and on any failure.

Sizes come from the environment (defaults keep the run under 5 minutes on
a 2-core machine):

  BENCH_INTAKE_EVENTS   1000000  events POSTed to the agent's batch endpoint
  BENCH_LIMIT_EVENTS    =INTAKE  events the SQLite limit program stores
  BENCH_SOCK_EVENTS     300000   events written to the agent's Unix socket
  BENCH_CONNS           4        concurrent connections of the load generator
  BENCH_BATCH           1000     events per batch request / socket write
  BENCH_DRAIN_EVENTS    2000000  buffered events of a mergeable metric
  BENCH_DRAIN_SUBS      10       subscriptions they belong to
  BENCH_DRAIN_PER_MIN   100000   events per UTC minute (timestamps)
  BENCH_RAW_EVENTS      500000   buffered events of a metric shipped raw
  BENCH_API_EVENTS      300000   events POSTed to the collector's batch API
  BENCH_SUBS            100000   subscriptions invoiced (3 charges each)
  BENCH_BILL_CAP        90       seconds `bill` may run before it is stopped
                                 (3x the target: a MISS either way)
  BENCH_ONLY            all      comma list of: limit,intake,drain,api,invoice
  BENCH_KEEP            0        1: keep the temp dir (logs, databases)

Standard library only.
"""
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
AGENT = os.path.join(ROOT, "bin", "tally-agent")
COLLECTOR = os.path.join(ROOT, "bin", "tally-collector")
LIMIT = os.path.join(ROOT, "build", "bench", "limit")
LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")
RSSFLOOR = os.path.join(ROOT, "build", "bench", "rssfloor")
OUT = os.path.join(ROOT, "bench", "out")
API_KEY = "bench-api-key"


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v.replace("_", "")) if v else default
    except ValueError:
        sys.exit("bench: %s=%r is not an integer" % (name, v))


SIZES = {
    "intake_events": env_int("BENCH_INTAKE_EVENTS", 1000000),
    "sock_events": env_int("BENCH_SOCK_EVENTS", 300000),
    "conns": env_int("BENCH_CONNS", 4),
    "batch": env_int("BENCH_BATCH", 1000),
    "drain_events": env_int("BENCH_DRAIN_EVENTS", 2000000),
    "drain_subs": env_int("BENCH_DRAIN_SUBS", 10),
    "drain_per_min": env_int("BENCH_DRAIN_PER_MIN", 100000),
    "raw_events": env_int("BENCH_RAW_EVENTS", 500000),
    "api_events": env_int("BENCH_API_EVENTS", 300000),
    "subs": env_int("BENCH_SUBS", 100000),
    "bill_cap": env_int("BENCH_BILL_CAP", 90),
}
# Like for like: SQLite's rate falls as the tables grow.
SIZES["limit_events"] = env_int("BENCH_LIMIT_EVENTS", SIZES["intake_events"])
PHASES = ["limit", "intake", "drain", "api", "invoice"]


# ---- Processes: started in their own session, stopped by PID ------------

class Proc:
    """A process we started; stop() ends it by its PID, always."""

    def __init__(self, name, argv, env=None, log=None):
        self.name = name
        self.log = log
        full = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
        full.update(env or {})
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.p = subprocess.Popen(argv, stdout=out, stderr=out, env=full,
                                  start_new_session=True)
        if log:
            out.close()
        RUNNING.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=15):
        if self.alive():
            try:
                os.kill(self.p.pid, signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self in RUNNING:
            RUNNING.remove(self)
        return self.p.returncode

    def output(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def cpu_s(self):
        """CPU seconds (user + system) the process has used so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self, field="VmRSS"):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def pss_kb(self):
        """Proportional set: shared pages divided among their users."""
        try:
            with open("/proc/%d/smaps_rollup" % self.pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0


RUNNING = []


def stop_all():
    for p in list(reversed(RUNNING)):
        try:
            p.stop()
        except Exception:       # keep stopping the others
            traceback.print_exc()


def on_signal(signum, frame):
    quiet()
    raise SystemExit("signal %d" % signum)


def quiet():
    """Further signals must not cut the clean-up short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def tool(name, argv, timeout):
    """Run a bench tool to its end (registered, so a failure stops it);
    returns its JSON line."""
    out = os.path.join(WORK, name + ".out")
    with open(out, "wb") as f:
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.PIPE,
                             start_new_session=True)
    holder = _Popened(p)
    RUNNING.append(holder)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        holder.stop()
        raise RuntimeError("%s: still running after %d s: stopped" % (name, timeout))
    except BaseException:       # interrupted: stop it before going on
        holder.stop()
        raise
    RUNNING.remove(holder)
    with open(out) as f:
        text = f.read().strip()
    try:
        res = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("%s: exit %s: %s %s" % (name, p.returncode, text,
                                                   err.decode()[-500:]))
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s %s" % (name, p.returncode, text,
                                                   err.decode()[-500:]))
    return res


class _Popened(Proc):
    """A Popen made elsewhere, stoppable like a Proc."""

    def __init__(self, p):
        self.name, self.log, self.p = "tool", None, p


# ---- HTTP ---------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode("utf-8", "replace")


def wait_until(pred, timeout, what, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(step)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))


class Daemon:
    """A tally daemon we start and stop by PID; ready once /healthz is 200."""

    def launch(self, argv, env):
        self.proc = Proc(self.name, argv, env=env,
                         log=os.path.join(WORK, self.name + ".log"))
        wait_until(self.healthy, 20, self.name + " /healthz")
        return self

    def healthy(self):
        if not self.proc.alive():
            raise RuntimeError("%s exited: %s" % (self.name, self.proc.output()[-800:]))
        return http("GET", self.url + "/healthz", timeout=2)[0] == 200

    def stop(self):
        if self.proc:
            self.proc.stop()


class Collector(Daemon):
    def __init__(self, name, port=None):
        self.name = name
        self.port = port or free_port()
        self.db = os.path.join(WORK, name + ".db")
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None

    def argv(self, *extra):
        return [COLLECTOR, "--db", "sqlite:" + self.db] + list(extra)

    def start(self):
        # The scheduler would bill "now" underneath the measures.
        return self.launch(self.argv("--listen", "127.0.0.1:%d" % self.port,
                                     "--api-key", API_KEY),
                           {"TALLY_BILLING_INTERVAL": "1d"})

    def api(self, method, path, body=None):
        code, out = http(method, self.url + "/api/v1" + path, body,
                         {"Authorization": "Bearer " + API_KEY})
        if code != 200:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, code, out))
        return out

    def agent_token(self, agent_id):
        r = subprocess.run(self.argv("agents", "add", agent_id), capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError("agents add: " + r.stderr.decode())
        return r.stdout.decode().strip()

    def metrics(self):
        _, text = http("GET", self.url + "/metrics")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


class Agent(Daemon):
    def __init__(self, name, collector_url, token="tly_bench", env=None):
        self.name = name
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.data = os.path.join(WORK, name + "-data")
        self.sock = os.path.join(self.data, "agent.sock")
        self.argv = [AGENT, "--id", name, "--data-dir", self.data,
                     "--listen", "127.0.0.1:%d" % self.port,
                     "--collector", collector_url, "--token", token]
        # The cap only: 256MB would refuse BENCH_*_EVENTS past ~2M.
        self.env = {"TALLY_BUFFER_MAX_BYTES": "16GB"}
        self.env.update(env or {})
        self.proc = None

    def start(self):
        return self.launch(self.argv, self.env)

    def status(self):
        code, st = http("GET", self.url + "/v1/status")
        if code != 200:
            raise RuntimeError("%s /v1/status: %d %s" % (self.name, code, st))
        return st


def loadgen(name, mode, target, n, prefix, conns=None, batch=None, extra=(),
            timeout=240):
    argv = [LOADGEN, mode, target, "-n", str(n), "-p", prefix,
            "-c", str(conns or SIZES["conns"]), "-b", str(batch or SIZES["batch"])]
    return tool(name, argv + list(extra), timeout)


# ---- The table -----------------------------------------------------------

ROWS = []


def row(rid, name, value, unit, target=None, op=None, detail="", fmt="{:,.0f}"):
    """One line of the table; op is '>=' or '<=' against target."""
    status = "-"
    if value is None:
        status = "ERROR"
    elif target is not None:
        ok = value >= target if op == ">=" else value <= target
        status = "PASS" if ok else "MISS"
    ROWS.append({"id": rid, "name": name, "value": value, "unit": unit,
                 "target": target, "op": op, "status": status, "detail": detail,
                 "fmt": fmt})


def show(v, fmt):
    return "n/a" if v is None else fmt.format(v)


def print_table(machine, seconds):
    print()
    print("Tally bench: %s (Linux %s), %d CPUs (%s), %.1f GiB RAM, %s, SQLite %s; "
          "%.0f s" % (machine["os"], machine["kernel"], machine["nproc"], machine["cpu"],
                      machine["mem_gib"], machine["disk"], machine["sqlite"], seconds))
    w = max(len(r["name"]) for r in ROWS)
    head = "%-*s  %14s  %-8s  %-12s  %-6s  %s" % (w, "measure", "value", "unit",
                                                 "target", "", "run")
    print(head)
    print("-" * len(head))
    for r in ROWS:
        tgt = "" if r["target"] is None else "%s %s" % (
            "≥" if r["op"] == ">=" else "≤",
            show(r["target"], r["fmt"].replace("> ", "")))
        print("%-*s  %14s  %-8s  %-12s  %-6s  %s" % (
            w, r["name"], show(r["value"], r["fmt"]), r["unit"], tgt,
            "" if r["status"] == "-" else r["status"], r["detail"]))
    print()


# ---- 1. The SQLite limit --------------------------------------------------

def phase_limit(ctx):
    """What the agent's intake is held against: limit.c on the same rows
    (random-looking transaction ids, as Lago clients' UUIDs), and the
    same with ids in order: the agent's dedup index (agent/seen.h) writes
    sequentially whatever the ids, so the two should match."""
    n = SIZES["limit_events"]
    res = tool("limit", [LIMIT, "-n", str(n), "-t", "1000", "-p", "ih",
                         os.path.join(WORK, "limit.db")], 240)
    ctx["limit"] = res["events_per_s"]
    row("limit", "1 SQLite limit: buffer rows, 1000/tx", res["events_per_s"], "ev/s",
        detail="%s events, random tx ids, one row per INSERT, WAL, "
        "synchronous=NORMAL, %.2f s" % ("{:,}".format(n), res["seconds"]))
    res = tool("limit-seq", [LIMIT, "-n", str(n), "-t", "1000", "-p", "iq", "-q",
                             os.path.join(WORK, "limit-seq.db")], 240)
    for f in ("limit-seq.db", "limit-seq.db-wal", "limit-seq.db-shm"):
        if os.path.exists(os.path.join(WORK, f)):
            os.remove(os.path.join(WORK, f))
    row("limit_seq", "1 ... with tx ids in order", res["events_per_s"], "ev/s",
        detail="same rows, ids ascending (the dedup log appends either way); "
        "%.2f s" % res["seconds"])


# ---- 2, 3, 8. Agent intake and memory -------------------------------------

def mix(x):
    """bench_event.h's bench_mix (splitmix64's finalizer)."""
    m = (1 << 64) - 1
    x = (x + 0x9e3779b97f4a7c15) & m
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & m
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & m
    return x ^ (x >> 31)


def same_rows(agent_db, limit_db, tx):
    """The agent's buffer and limit.c's db: same schema of events/seen,
    and the same row for event tx (ids and times aside)."""
    def read(path):
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        try:
            schema = con.execute(
                "SELECT name, sql FROM sqlite_master WHERE name IN "
                "('events', 'seen', 'seen_at') ORDER BY name").fetchall()
            r = con.execute("SELECT tx, sub, customer, code, props, ptac, agg, fkey, "
                            "val, bytes FROM events WHERE tx = ?", (tx,)).fetchone()
            return schema, r
        finally:
            con.close()
    a, b = read(agent_db), read(limit_db)
    norm = [(n, re.sub(r"\s+", " ", s)) for n, s in a[0]], \
        [(n, re.sub(r"\s+", " ", s)) for n, s in b[0]]
    return norm[0] == norm[1] and a[1] == b[1] and a[1] is not None, a[1], b[1]


def needed(binary):
    """The shared libraries binary loads, by name (ldd)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return {l.split()[0] for l in out.splitlines() if "=>" in l}


def rss_floor():
    """rssfloor.c's resident set, and whether it loads what the agent does."""
    out = subprocess.run([RSSFLOOR], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    res = json.loads(out)
    agent, floor = needed(AGENT), needed(RSSFLOOR)
    res["libs"] = len(floor)
    res["warn"] = ""
    if agent != floor:
        res["warn"] = "; WARNING: libraries differ from the agent's: %s" % " ".join(
            sorted(agent ^ floor))
    return res


def phase_intake(ctx):
    # Shipping points at a port nobody listens on: intake alone is measured.
    ag = Agent("agent-intake", "http://127.0.0.1:%d" % free_port()).start()
    time.sleep(1.0)
    idle = ag.proc.rss_kb()
    idle_anon = ag.proc.rss_kb("RssAnon")
    idle_pss = ag.proc.pss_kb()
    n = SIZES["intake_events"]
    os.sync()   # the limit's writes are not to be flushed under this measure
    c0 = ag.proc.cpu_s()
    res = loadgen("intake-http", "http", ag.url + "/api/v1/events/batch", n, "ih")
    cores = (ag.proc.cpu_s() - c0) / res["seconds"]
    peak = ag.proc.rss_kb("VmHWM")
    anon = ag.proc.rss_kb("RssAnon")
    rate = res["events_per_s"]
    row("intake_http", "2 agent intake, HTTP batch", rate, "ev/s", 300000, ">=",
        "%s events, %d conns x %d/request, keep-alive, %.2f s; agent CPU %.2f "
        "cores" % ("{:,}".format(n), res["conns"], res["batch"], res["seconds"], cores))
    same = "n/a"
    if os.path.exists(os.path.join(WORK, "limit.db")):
        # The last event both stored: the agent ships its oldest first.
        last = min(n, SIZES["limit_events"]) - 1
        ok, a, b = same_rows(os.path.join(ag.data, "buffer.db"),
                             os.path.join(WORK, "limit.db"), "ih-%016x" % mix(last))
        ctx["rows_match"] = ok
        same = "yes" if ok else "NO"
        if not ok:
            print("bench: WARNING: limit.c's rows differ from the agent's:\n  agent %r\n"
                  "  limit %r" % (a, b), file=sys.stderr)
    limit = ctx.get("limit")
    if limit:
        row("intake_ratio", "2 ... as a share of (1)", rate / limit, "x", 0.5, ">=",
            "schema and rows of (1) = the agent's: %s" % same, fmt="{:.2f}")
    ns = SIZES["sock_events"]
    c0 = ag.proc.cpu_s()
    res = loadgen("intake-sock", "sock", ag.sock, ns, "is", extra=["-w", "2"])
    cores = (ag.proc.cpu_s() - c0) / res["seconds"]
    row("intake_sock", "3 agent intake, Unix socket", res["events_per_s"], "ev/s",
        detail="%s events, %d conns x %d lines/write, %.2f s; agent CPU %.2f cores"
        % ("{:,}".format(ns), res["conns"], res["batch"], res["seconds"], cores))
    floor = rss_floor()
    row("rss_floor", "8 RSS floor: the agent's libraries alone",
        floor["rss_kb"] / 1024, "MiB",
        detail="rssfloor.c: the same %d shared libraries, curl_global_init, nothing "
        "else; RssAnon %.1f MiB%s" % (floor["libs"], floor["anon_kb"] / 1024,
                                      floor["warn"]), fmt="{:.1f}")
    row("rss_idle", "8 agent RSS idle", idle / 1024, "MiB", 8, "<=",
        "VmRSS 1 s after start, %.1f MiB above the floor; RssAnon %.1f MiB; "
        "Pss %.1f MiB" % ((idle - floor["rss_kb"]) / 1024, idle_anon / 1024,
                          idle_pss / 1024), fmt="{:.1f}")
    row("rss_load", "8 agent RSS peak under load (2)", peak / 1024, "MiB", 32, "<=",
        "VmHWM after (2); RssAnon then %.1f MiB" % (anon / 1024), fmt="{:.1f}")
    ag.stop()
    for f in ("limit.db", "limit.db-wal", "limit.db-shm"):
        if os.path.exists(os.path.join(WORK, f)):
            os.remove(os.path.join(WORK, f))
    shutil.rmtree(ag.data, ignore_errors=True)
    stripped = os.path.join(WORK, "tally-agent.stripped")
    subprocess.run(["strip", "-o", stripped, AGENT], check=True, timeout=60)
    row("binary", "8 agent binary, stripped", os.path.getsize(stripped) / 1024, "KiB",
        detail="bin/tally-agent %s KiB unstripped" % "{:,.0f}".format(
            os.path.getsize(AGENT) / 1024))


# ---- 4, 5. Drain ------------------------------------------------------------

def drain(ctx, col, ag, n, fill_args, prefix):
    """Fill ag while col is down, then start col and time the drain."""
    col.stop()
    fill = loadgen(ag.name + "-fill", "http", ag.url + "/api/v1/events/batch", n,
                   prefix, extra=fill_args)
    wait_until(lambda: ag.status()["buffered_events"] == n, 30, "the fill to count")
    os.sync()
    a0 = ag.proc.cpu_s()
    t0 = time.monotonic()
    col.start()
    while True:
        st = ag.status()
        if st["buffered_events"] == 0:
            break
        if time.monotonic() - t0 > 240:
            raise RuntimeError("%s: %d events still buffered after 240 s" % (
                ag.name, st["buffered_events"]))
        time.sleep(0.01)
    dt = time.monotonic() - t0
    m = col.metrics()
    m["cpu"] = "agent CPU %.2f, collector %.2f cores" % (
        (ag.proc.cpu_s() - a0) / dt, col.proc.cpu_s() / dt)
    return dt, m, fill


def phase_drain(ctx):
    col = Collector("collector-drain").start()
    col.api("POST", "/billable_metrics", {"billable_metric": {
        "name": "gb", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb",
        "filters": [{"key": "region", "values": ["eu", "us"]}]}})
    fees = col.api("POST", "/billable_metrics", {"billable_metric": {
        "name": "fees", "code": "fees", "aggregation_type": "sum_agg",
        "field_name": "amount"}})["billable_metric"]
    col.api("POST", "/plans", {"plan": {
        "name": "Fees", "code": "fees", "interval": "monthly", "amount_cents": 0,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [{
            "billable_metric_id": fees["lago_id"], "charge_model": "percentage",
            "properties": {"rate": "1.5"}}]}})
    # Short retry delays: the drain is timed from the collector's start,
    # and the default backoff (up to 60 s) would time the agent's sleep.
    env = {"TALLY_SHIP_BACKOFF_MIN": "10ms", "TALLY_SHIP_BACKOFF_MAX": "20ms"}
    agg = Agent("agent-agg", col.url, col.agent_token("agent-agg"), env).start()
    raw = Agent("agent-raw", col.url, col.agent_token("agent-raw"), env).start()
    wait_until(lambda: "catalog version" in agg.proc.output() and
               "catalog version" in raw.proc.output(), 20, "the agents' catalogs")

    n, subs, per_min = SIZES["drain_events"], SIZES["drain_subs"], SIZES["drain_per_min"]
    # Ids in order for this fill: an aggregated record carries no ids,
    # and random ones would only slow the fill (see row 1).
    dt, m, fill = drain(ctx, col, agg, n, ["-q", "-C", "gb", "-f", "gb",
                                           "-s", str(subs), "-m", str(per_min)], "dg")
    con = sqlite3.connect("file:%s?mode=ro" % col.db, uri=True, timeout=10)
    held = con.execute("SELECT total(count) FROM usage WHERE code = 'gb'").fetchone()[0]
    con.close()
    if int(held) != n:
        raise RuntimeError("pre-aggregated drain: the collector holds %d of %d events"
                           % (held, n))
    wire = m.get("tally_ingest_bytes_total", 0)
    groups = subs * 2 * -(-n // per_min)
    row("drain_agg", "4 drain, pre-aggregated (sum, filter)", n / dt, "ev/s", 1000000,
        ">=", "%s events (%d subs x 2 regions x %d min = %d groups), %.2f s, "
        "%d batches, %d records; %s" % (
            "{:,}".format(n), subs, -(-n // per_min), groups, dt,
            m.get('tally_batches_total{result="applied"}', 0),
            m.get("tally_records_applied_total", 0), m["cpu"]))
    row("drain_agg_wire", "4 ... wire bytes per event", wire / n, "B/ev", 0.5, "<=",
        "%s bytes of batches (tally_ingest_bytes_total)" % "{:,.0f}".format(wire),
        fmt="{:.3f}")
    row("fill_agg", "4 (fill: agent intake, ids in order)", fill["events_per_s"],
        "ev/s", detail="HTTP batch as (2), metric pre-aggregated, collector down")
    agg.stop()
    shutil.rmtree(agg.data, ignore_errors=True)

    n = SIZES["raw_events"]
    dt, m, fill = drain(ctx, col, raw, n, ["-C", "fees", "-f", "amount",
                                           "-s", str(subs)], "dr")
    con = sqlite3.connect("file:%s?mode=ro" % col.db, uri=True, timeout=10)
    held = con.execute("SELECT count(*) FROM events WHERE code = 'fees'").fetchone()[0]
    con.close()
    if held != n:
        raise RuntimeError("raw drain: the collector holds %d of %d events" % (held, n))
    wire = m.get("tally_ingest_bytes_total", 0)
    row("drain_raw", "5 drain, raw (percentage charge)", n / dt, "ev/s", 100000, ">=",
        "%s events, random tx ids, %.2f s, %d batches; %s" % (
            "{:,}".format(n), dt, m.get('tally_batches_total{result="applied"}', 0),
            m["cpu"]))
    row("drain_raw_wire", "5 ... wire bytes per event", wire / n, "B/ev", 25, "<=",
        "%s bytes of batches" % "{:,.0f}".format(wire), fmt="{:.1f}")
    raw.stop()
    col.stop()
    shutil.rmtree(raw.data, ignore_errors=True)


# ---- 6. The collector's batch API -------------------------------------------

def phase_api(ctx):
    col = Collector("collector-api").start()
    calls = col.api("POST", "/billable_metrics", {"billable_metric": {
        "name": "calls", "code": "calls", "aggregation_type": "count_agg"}})
    col.api("POST", "/plans", {"plan": {
        "name": "Calls", "code": "calls", "interval": "monthly", "amount_cents": 0,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [{
            "billable_metric_id": calls["billable_metric"]["lago_id"],
            "charge_model": "standard",
            "properties": {"amount": "0.001"}}]}})
    # The events name real subscriptions: ten customers, one each,
    # started before the events' time.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    for i in range(10):
        col.api("POST", "/customers", {"customer": {"external_id": "cust_%d" % i,
                                                    "name": "C%d" % i, "currency": "USD"}})
        col.api("POST", "/subscriptions", {"subscription": {
            "external_customer_id": "cust_%d" % i, "plan_code": "calls",
            "external_id": "sub_%d" % i, "subscription_at": since}})
    n = SIZES["api_events"]
    c0 = col.proc.cpu_s()
    res = loadgen("api", "http", col.url + "/api/v1/events/batch", n, "ap", batch=100,
                  extra=["-C", "calls", "-s", "10", "-t", str(int(time.time()) - 60),
                         "-H", "Authorization: Bearer " + API_KEY])
    row("api_batch", "6 collector POST /api/v1/events/batch", res["events_per_s"],
        "ev/s", 100000, ">=", "%s events, random tx ids, %d conns x 100/request, %.2f s; "
        "collector CPU %.2f cores" % ("{:,}".format(n), res["conns"], res["seconds"],
                                      (col.proc.cpu_s() - c0) / res["seconds"]))
    col.stop()


# ---- 7. Invoicing -------------------------------------------------------------

PERIOD_START = "2025-01-01T00:00:00Z"
PERIOD_START_MS = 1735689600000
PERIOD_END = "2025-02-01T00:00:00Z"


def bill_setup(name, n):
    """A collector db with one plan of 3 charges and one customer and
    subscription made through the API, then n of them in all, written
    straight into SQLite as the API writes them (the template's rows
    copied with new ids), with usage for each charge."""
    col = Collector(name).start()
    ids = {}
    for code, agg, field in (("calls", "count_agg", None), ("gb", "sum_agg", "gb"),
                             ("peak", "max_agg", "v")):
        body = {"name": code, "code": code, "aggregation_type": agg}
        if field:
            body["field_name"] = field
        ids[code] = col.api("POST", "/billable_metrics",
                            {"billable_metric": body})["billable_metric"]["lago_id"]
    col.api("POST", "/plans", {"plan": {
        "name": "Three", "code": "three", "interval": "monthly", "amount_cents": 1000,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [
            {"billable_metric_id": ids["calls"], "charge_model": "standard",
             "properties": {"amount": "0.01"}},
            {"billable_metric_id": ids["gb"], "charge_model": "graduated",
             "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 10, "per_unit_amount": "0.5",
                  "flat_amount": "0"},
                 {"from_value": 11, "to_value": None, "per_unit_amount": "0.25",
                  "flat_amount": "1"}]}},
            {"billable_metric_id": ids["peak"], "charge_model": "package",
             "properties": {"amount": "5", "package_size": 10, "free_units": 0}}]}})
    col.api("POST", "/customers", {"customer": {"external_id": "cust_0", "name": "C0",
                                                "currency": "USD"}})
    col.api("POST", "/subscriptions", {"subscription": {
        "external_customer_id": "cust_0", "plan_code": "three", "external_id": "sub_0",
        "subscription_at": PERIOD_START}})
    col.stop()

    con = sqlite3.connect(col.db, timeout=30)
    cust = con.execute("SELECT lago_id, external_id, sequential_id, doc, created_at, "
                       "updated_at, deleted_at FROM customers").fetchone()
    cols = [d[1] for d in con.execute("PRAGMA table_info(subscriptions)")]
    sub = dict(zip(cols, con.execute("SELECT * FROM subscriptions").fetchone()))
    doc = json.loads(cust[3])
    custs, subs, usage = [], [], []
    minute = (PERIOD_START_MS // 1000) + 14 * 86400
    for i in range(1, n):
        cid = str(uuid.uuid4())
        d = dict(doc, external_id="cust_%d" % i, name="C%d" % i)
        custs.append((cid, "cust_%d" % i, i + 1, json.dumps(d, separators=(",", ":")),
                      cust[4], cust[5], None))
        s = dict(sub, lago_id=str(uuid.uuid4()), external_id="sub_%d" % i, customer_id=cid)
        subs.append(tuple(s[c] for c in cols))
    for i in range(n):
        usage.append(("sub_%d" % i, "calls", "{}", minute, 100 + i % 50, None, None,
                      None, None))
        usage.append(("sub_%d" % i, "gb", "{}", minute, 10, "%d.5" % (i % 40), None,
                      None, None))
        usage.append(("sub_%d" % i, "peak", "{}", minute, 3, None, str(i % 30), None,
                      None))
    with con:
        con.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?)", custs)
        con.executemany("INSERT INTO subscriptions (%s) VALUES (%s)" % (
            ", ".join(cols), ", ".join("?" * len(cols))), subs)
        con.executemany("INSERT INTO usage (sub, code, filters, minute, count, sum, max, "
                        "latest, latest_ts) VALUES (?,?,?,?,?,?,?,?,?)", usage)
    con.close()
    return col


def phase_invoice(ctx):
    """`bill --at` the period's end, timed: BENCH_SUBS subscriptions, and
    a tenth of them first, to show how the time grows."""
    bill_once(max(SIZES["subs"] // 10, 1), "collector-bill-small", True)
    bill_once(SIZES["subs"], "collector-bill", False)


def bill_once(n, name, small):
    rid, label, target = ("invoice_small", "7 (invoicing a tenth of them)", None) \
        if small else ("invoice", "7 invoicing, `bill --at` period end", 30)
    col = bill_setup(name, n)
    os.sync()
    t0 = time.monotonic()
    p = Proc("bill", col.argv("bill", "--at", PERIOD_END),
             log=os.path.join(WORK, name + "-bill.log"))
    cap = SIZES["bill_cap"]
    try:
        rc = p.p.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        p.stop()
        row(rid, label, float(cap), "s", target, "<=",
            "%s subscriptions x 3 charges: NOT DONE, stopped after %d s "
            "(BENCH_BILL_CAP); the value is a lower bound" % ("{:,}".format(n), cap),
            fmt="> {:.0f}")
        ROWS[-1]["capped"] = True
        if target is None or cap <= target:
            ROWS[-1]["status"] = "ERROR"
        return
    dt = time.monotonic() - t0
    RUNNING.remove(p)
    if rc != 0:
        raise RuntimeError("bill: exit %d: %s" % (rc, p.output()[-800:]))
    con = sqlite3.connect("file:%s?mode=ro" % col.db, uri=True, timeout=10)
    made = con.execute("SELECT count(*) FROM invoices").fetchone()[0]
    fees = len(json.loads(con.execute("SELECT doc FROM invoices LIMIT 1").fetchone()[0])
               .get("fees", []))
    con.close()
    if made != n:
        raise RuntimeError("bill: %d invoices for %d subscriptions" % (made, n))
    detail = "%s subscriptions x 3 charges, %s invoices (%d fees each)" % (
        "{:,}".format(n), "{:,}".format(made), fees)
    row(rid, label, dt, "s", target, "<=", detail, fmt="{:.1f}")
    for f in (col.db, col.db + "-wal", col.db + "-shm"):
        if os.path.exists(f):
            os.remove(f)


# ---- Main --------------------------------------------------------------------

def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1])
    try:
        with open("/etc/debian_version") as f:
            os_name = "Debian " + f.read().strip()
    except OSError:
        os_name = platform.system()
    try:    # where the buffers and databases live
        r = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True,
                           timeout=10).stdout.decode().splitlines()[-1].split()
        disk = "%s on %s" % (r[1], r[0])
    except (OSError, IndexError, subprocess.SubprocessError):
        disk = "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem / 1048576, 1),
            "os": os_name, "kernel": platform.release(), "disk": disk,
            "sqlite": sqlite3.sqlite_version, "python": platform.python_version()}


def main():
    global WORK
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    for f in (AGENT, COLLECTOR, LIMIT, LOADGEN, RSSFLOOR):
        if not os.access(f, os.X_OK):
            sys.exit("bench: %s is missing: run `make bench`" % f)
    only = [p for p in os.environ.get("BENCH_ONLY", "").split(",") if p]
    for p in only:
        if p not in PHASES:
            sys.exit("bench: BENCH_ONLY: unknown phase %r (%s)" % (p, ",".join(PHASES)))
    os.makedirs(OUT, exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="tally-bench-")
    mach = machine()
    ctx, errors, interrupted = {}, [], None
    t0 = time.monotonic()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print("bench: %s; work dir %s" % (", ".join("%s=%s" % kv for kv in SIZES.items()),
                                     WORK), flush=True)
    try:
        for name in PHASES:
            if only and name not in only:
                continue
            print("bench: %s ..." % name, flush=True)
            os.sync()   # no writeback of the last phase under this one
            t = time.monotonic()
            try:
                globals()["phase_" + name](ctx)
            except (RuntimeError, OSError, sqlite3.Error, subprocess.SubprocessError) as e:
                errors.append("%s: %s" % (name, e))
                print("bench: %s FAILED: %s" % (name, e), file=sys.stderr, flush=True)
                for p in list(RUNNING):
                    out = p.output()
                    if out:
                        print("--- %s (last lines)\n%s" % (
                            p.name, "\n".join(out.splitlines()[-15:])), file=sys.stderr)
            finally:
                stop_all()
            print("bench: %s done in %.0f s" % (name, time.monotonic() - t), flush=True)
    except (KeyboardInterrupt, SystemExit) as e:
        quiet()
        interrupted = "interrupted (%s)" % (str(e) or "SIGINT")
        print("bench: %s: stopping what it started" % interrupted, file=sys.stderr,
              flush=True)
    finally:
        stop_all()
        seconds = time.monotonic() - t0
        keep = os.environ.get("BENCH_KEEP") == "1" or bool(errors)
        if interrupted:
            errors.append(interrupted)
        if not keep:
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            print("bench: kept %s (logs, databases)" % WORK)
    if ROWS:
        print_table(mach, seconds)
    for e in errors:
        print("bench: ERROR %s" % e)
    res = {"started_at": started, "seconds": round(seconds, 1), "machine": mach,
           "sizes": SIZES, "phases": only or PHASES, "errors": errors,
           "rows_match_agent": ctx.get("rows_match"),
           "rows": [{k: v for k, v in r.items() if k != "fmt"} for r in ROWS]}
    path = os.path.join(OUT, "results.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print("bench: wrote %s" % os.path.relpath(path, os.getcwd()))
    return 1 if errors else 0


WORK = None

if __name__ == "__main__":
    sys.exit(main())
