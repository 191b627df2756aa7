"""Shared helpers of the integration tests: temp dirs, free loopback
ports, processes started and stopped by PID, bounded waits, and a tiny
test runner that prints cmocka-like lines and a closing count.

Standard library only: the tests run on a bare Debian with python3.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENT = os.path.join(ROOT, "bin", "tally-agent")
COLLECTOR = os.path.join(ROOT, "bin", "tally-collector")


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, step=0.02, what="condition"):
    """Poll pred() until it is true, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class Proc:
    """A process we started; stop() ends it by PID, always."""

    def __init__(self, argv, env=None, cwd=None, log=None):
        self.argv = argv
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL
        full_env = dict(os.environ)
        for k in list(full_env):
            if k.startswith("TALLY_"):
                del full_env[k]
        full_env.update(env or {})
        self.p = subprocess.Popen(argv, stdout=out, stderr=out, env=full_env,
                                  cwd=cwd, start_new_session=True)
        if log:
            out.close()

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def kill9(self):
        if self.alive():
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL if it does not go; returns the exit code."""
        if self.alive():
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        return self.p.returncode

    def output(self):
        if not self.log or not os.path.exists(self.log):
            return ""
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def run(argv, env=None, timeout=60, input=None):
    """Run a command to completion; returns (code, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    full_env.update(env or {})
    r = subprocess.run(argv, capture_output=True, env=full_env, timeout=timeout,
                       input=input)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


class Suite:
    """Collects test functions; main() runs them with a fresh temp dir each
    and cleans up every process they registered."""

    def __init__(self, name):
        self.name = name
        self.tests = []
        self.procs = []
        self.tmp = None

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def start(self, argv, env=None, log_name=None):
        log = os.path.join(self.tmp, (log_name or os.path.basename(argv[0])) + ".log")
        p = Proc(argv, env=env, cwd=self.tmp, log=log)
        self.procs.append(p)
        return p

    def main(self):
        passed = failed = 0
        only = os.environ.get("TALLY_ONLY")
        for fn in self.tests:
            if only and only not in fn.__name__:
                continue
            self.tmp = tempfile.mkdtemp(prefix="tally-it-")
            self.procs = []
            print("[ RUN      ] %s.%s" % (self.name, fn.__name__), flush=True)
            t0 = time.monotonic()
            ok = False
            try:
                fn(self)
                ok = True
            except Exception:
                traceback.print_exc()
                for p in self.procs:
                    out = p.output()
                    if out:
                        print("--- %s (last lines)" % p.log)
                        print("\n".join(out.splitlines()[-25:]))
            finally:
                for p in self.procs:
                    p.stop()
            dt = time.monotonic() - t0
            if ok:
                passed += 1
                shutil.rmtree(self.tmp, ignore_errors=True)
                print("[       OK ] %s.%s (%.1fs)" % (self.name, fn.__name__, dt))
            else:
                failed += 1
                print("[  FAILED  ] %s.%s (kept %s)" % (self.name, fn.__name__, self.tmp))
        print("%s: %d passed, %d failed" % (self.name, passed, failed), flush=True)
        sys.exit(1 if failed else 0)


# ---- The collector and its APIs ------------------------------------------

import json
import sqlite3
import urllib.error
import urllib.request

API_KEY = "test-api-key"


def db_rows(path, sql, *args):
    """The rows of sql on the SQLite file at path (a collector's store)."""
    con = sqlite3.connect(path, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


class Collector:
    """A tally-collector on a free loopback port with a temp SQLite db."""

    def __init__(self, suite, api_key=API_KEY, extra=(), env=None, db=None,
                 https_ca=None):
        self.suite = suite
        self.port = free_port()
        self.db = db or os.path.join(suite.tmp, "collector.db")
        self.ca = https_ca
        self.url = "%s://127.0.0.1:%d" % ("https" if https_ca else "http", self.port)
        self.api_key = api_key
        self.argv = [COLLECTOR, "--db", "sqlite:" + self.db,
                     "--listen", "127.0.0.1:%d" % self.port,
                     "--api-key", api_key] + list(extra)
        # Tests bill with `bill --at`; the daemon's own scheduler would
        # bill "now" underneath them.
        self.env = dict(env or {})
        self.env.setdefault("TALLY_BILLING_INTERVAL", "1d")
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.suite.start(self.argv, env=self.env, log_name="collector")
        wait_until(self.healthy, timeout=10, what="collector /healthz")

    def healthy(self):
        try:
            return http("GET", self.url + "/healthz", ca=self.ca)[0] == 200
        except OSError:
            return False

    def stop(self):
        return self.proc.stop()

    def agent_token(self, agent_id):
        code, out, err = run([COLLECTOR, "--db", "sqlite:" + self.db,
                              "agents", "add", agent_id])
        assert code == 0, err
        return out.strip()

    def rows(self, sql, *args):
        return db_rows(self.db, sql, *args)

    def metric(self, name):
        """The value of counter or gauge `name` (labels included) in /metrics."""
        _, text = http("GET", self.url + "/metrics", ca=self.ca)
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(line.split()[-1])
        raise AssertionError("metric %s missing" % name)

    def api(self, method, path, body=None, key=None, raw=None):
        """Call /api/v1/PATH; returns (status, decoded JSON or text)."""
        return http(method, self.url + "/api/v1" + path, body=body, raw=raw, ca=self.ca,
                    headers={"Authorization": "Bearer " + (key or self.api_key)})


def http(method, url, body=None, headers=None, raw=None, timeout=30, ca=None):
    """One HTTP request; returns (status, JSON-decoded body or text)."""
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=dict(headers or {}))
    if data is not None and "Content-Type" not in req.headers:
        req.add_header("Content-Type", "application/json")
    ctx = None
    if ca:
        import ssl
        ctx = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode("utf-8", "replace")


class Agent:
    """A tally-agent on a free loopback port with its own data dir."""

    def __init__(self, suite, collector, agent_id="edge-1", token=None,
                 extra=(), env=None, name="agent"):
        self.suite = suite
        self.id = agent_id
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.data = os.path.join(suite.tmp, name + "-data")
        self.sock = os.path.join(self.data, "agent.sock")
        self.token = token if token is not None else collector.agent_token(agent_id)
        self.argv = [AGENT, "--id", agent_id, "--data-dir", self.data,
                     "--listen", "127.0.0.1:%d" % self.port,
                     "--collector", collector.url, "--token", self.token] + list(extra)
        self.env = dict(env or {})
        self.env.setdefault("TALLY_SHIP_FLUSH_INTERVAL", "100ms")
        self.env.setdefault("TALLY_SHIP_BACKOFF_MIN", "50ms")
        self.env.setdefault("TALLY_SHIP_BACKOFF_MAX", "500ms")
        self.name = name
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.suite.start(self.argv, env=self.env, log_name=self.name)
        wait_until(self.healthy, timeout=10, what="agent /healthz")

    def healthy(self):
        try:
            return http("GET", self.url + "/healthz")[0] == 200
        except OSError:
            return False

    def status(self):
        code, st = http("GET", self.url + "/v1/status")
        assert code == 200, st
        return st

    def post(self, events):
        """POST /api/v1/events/batch; returns (status, body)."""
        return http("POST", self.url + "/api/v1/events/batch", body={"events": events})

    def post_one(self, event):
        return http("POST", self.url + "/api/v1/events", body={"event": event})

    def drained(self, timeout=60):
        wait_until(lambda: self.status()["buffered_events"] == 0, timeout=timeout,
                   step=0.05, what="agent %s to drain" % self.id)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def make_ca_and_cert(dirpath, name="ca", host_ip="127.0.0.1"):
    """A CA and a server certificate for host_ip signed by it, made with
    the openssl command.  Returns (ca.pem, cert.pem, key.pem)."""
    ca_key = os.path.join(dirpath, name + "-key.pem")
    ca = os.path.join(dirpath, name + ".pem")
    key = os.path.join(dirpath, name + "-server-key.pem")
    csr = os.path.join(dirpath, name + "-server.csr")
    cert = os.path.join(dirpath, name + "-server.pem")
    ext = os.path.join(dirpath, name + "-ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n" % host_ip)
    for argv in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "2", "-subj", "/CN=Tally Test CA " + name],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=" + host_ip],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext],
    ):
        r = subprocess.run(argv, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
    return ca, cert, key
