"""The agent against a real collector: exactly-once delivery of every
acknowledged event through duplicates, kill -9, collector outages and a
full buffer; the socket and CLI paths; bad input refused unchanged."""
import json
import os
import random
import socket
import threading
import time
from decimal import Decimal

from harness import AGENT, Agent, Collector, Suite, http, run, wait_until

s = Suite("agent")


def ev(tx, sub="sub_1", code="storage", **props):
    return {"transaction_id": tx, "external_subscription_id": sub, "code": code,
            "timestamp": 1764000000, "properties": props}


def col_events(col):
    return col.rows("SELECT transaction_id, properties FROM events")


def col_agent_counts(col, agent_id):
    return col.rows("SELECT events_received, events_duplicate FROM agents "
                    "WHERE id = ?", agent_id)[0]


def repeats_workload():
    """100,000 events in chunks of 1000, one in ten repeating an earlier
    transaction id with the same content; and {tx: gb} of the 90,000."""
    rnd = random.Random(7)
    sent = {}
    events = []
    for i in range(100000):
        if i % 10 == 9:
            tx = "tx-%d" % rnd.randrange(len(sent))
            events.append(ev(tx, gb=sent[tx]))
            continue
        tx = "tx-%d" % len(sent)
        sent[tx] = "%d.%03d" % (rnd.randrange(100), rnd.randrange(1000))
        events.append(ev(tx, gb=sent[tx]))
    return sent, [events[i:i + 1000] for i in range(0, len(events), 1000)]


def post_in_parallel(ag, chunks, conns=4):
    """POST the chunks over `conns` threads; every answer must be 200."""
    errors = []

    def worker(part):
        for c in part:
            code, body = ag.post(c)
            if code != 200:
                errors.append((code, body))

    threads = [threading.Thread(target=worker, args=(chunks[k::conns],))
               for k in range(conns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]


def assert_held_once(col, ag, sent):
    """The collector holds each of sent once, with its exact value."""
    ag.drained(timeout=120)
    rows = col_events(col)
    assert len(rows) == len(sent) == 90000, len(rows)
    got = {tx: json.loads(p)["gb"] for tx, p in rows}
    assert got == sent
    assert sum(Decimal(v) for v in got.values()) == sum(Decimal(v) for v in sent.values())
    st = ag.status()
    assert st["accepted_events"] == 90000 and st["duplicate_events"] == 10000, st
    return st


@s.test
def hundred_thousand_with_repeats(t):
    col = Collector(t)
    ag = Agent(t, col)
    sent, chunks = repeats_workload()
    post_in_parallel(ag, chunks)
    assert_held_once(col, ag, sent)
    assert col_agent_counts(col, "edge-1") == (90000, 0)


def sender(ag, prefix, acked, stop):
    """Send one-event batches until stopped; record every 200."""
    i = 0
    while not stop.is_set():
        tx = "%s-%d" % (prefix, i)
        i += 1
        try:
            code, _ = ag.post([ev(tx, gb="1")])
        except OSError:
            return      # the agent was killed mid-request
        if code == 200:
            acked.add(tx)


def kill9_while_sending(ag, rounds, pause):
    """rounds times: three senders post, the agent is killed -9 after a
    random pause in (lo, hi) s and started again.  The ids answered 200."""
    acked = set()
    rnd = random.Random(11)
    for r in range(rounds):
        stop = threading.Event()
        senders = [threading.Thread(target=sender, args=(ag, "r%d-%d" % (r, k), acked, stop))
                   for k in range(3)]
        for th in senders:
            th.start()
        # Kill at a random moment: mid-intake always, mid-shipping often.
        time.sleep(rnd.uniform(*pause))
        ag.proc.kill9()
        stop.set()
        for th in senders:
            th.join()
        ag.start()
    return acked


@s.test
def kill9_rounds(t):
    col = Collector(t)
    ag = Agent(t, col, env={"TALLY_SHIP_BATCH_MAX_EVENTS": "50"})
    acked = kill9_while_sending(ag, 12, (0.05, 0.6))
    ag.drained(timeout=120)
    rows = col_events(col)
    txs = [tx for tx, _ in rows]
    assert len(txs) == len(set(txs))
    missing = acked - set(txs)
    assert not missing, sorted(missing)[:5]
    # Answered-or-not, each event the collector holds counts once: the
    # per-agent tally of applied batches equals the events held.
    received, dups = col_agent_counts(col, "edge-1")
    assert received - dups == len(txs), (received, dups, len(txs))
    assert len(acked) > 100, len(acked)


@s.test
def collector_outage(t):
    col = Collector(t)
    ag = Agent(t, col)
    assert ag.post([ev("a-%d" % i, gb="0.5") for i in range(100)])[0] == 200
    ag.drained()
    col.stop()
    for k in range(10):
        assert ag.post([ev("b-%d-%d" % (k, i), gb="0.25") for i in range(100)])[0] == 200
    wait_until(lambda: not ag.status()["connected"], what="agent to notice the outage")
    st = ag.status()
    assert st["buffered_events"] == 1000, st
    col.start()
    ag.drained(timeout=60)
    st = ag.status()
    assert st["buffered_events"] == 0 and st["outbox_batches"] == 0, st
    assert st["connected"], st
    rows = col_events(col)
    assert len(rows) == 1100
    assert sum(Decimal(json.loads(p)["gb"]) for _, p in rows) == Decimal("300")


def fill_until_full(ag, prefix, limit=2000):
    accepted = []
    for i in range(limit):
        batch = [ev("%s-%d-%d" % (prefix, i, k), pad="x" * 400) for k in range(10)]
        code, body = ag.post(batch)
        if code == 507:
            return accepted, body
        assert code == 200, body
        accepted += [e["transaction_id"] for e in batch]
    raise AssertionError("the buffer never filled")


@s.test
def buffer_full_rejects(t):
    col = Collector(t)
    ag = Agent(t, col, env={"TALLY_BUFFER_MAX_BYTES": "256KB"})
    col.stop()
    accepted, body = fill_until_full(ag, "f")
    assert body["code"] == "buffer_full" and "buffer.max_bytes" in body["message"], body
    # The socket path says so too, one line per event.
    big = {"pad%d" % k: "x" * 1000 for k in range(8)}
    answers = sock_send(ag, [json.dumps(ev("sock-full", **big))])
    assert answers[0]["status"] == 507 and "buffer full" in answers[0]["error"], answers
    col.start()
    ag.drained(timeout=60)
    held = {tx for tx, _ in col_events(col)}
    assert set(accepted) <= held and len(held) == len(accepted)
    # Intake resumes once drained.
    assert ag.post([ev("after", pad="y")])[0] == 200
    ag.drained()
    assert len(col_events(col)) == len(accepted) + 1


@s.test
def buffer_full_drops_oldest(t):
    col = Collector(t)
    ag = Agent(t, col, env={"TALLY_BUFFER_MAX_BYTES": "256KB",
                            "TALLY_BUFFER_FULL_POLICY": "drop_oldest"})
    col.stop()
    sent = []
    for i in range(200):
        batch = [ev("d-%d-%d" % (i, k), pad="x" * 400) for k in range(10)]
        assert ag.post(batch)[0] == 200
        sent += [e["transaction_id"] for e in batch]
    st = ag.status()
    assert st["dropped_events"] > 0, st
    dropped = st["dropped_events"]
    code, text = http("GET", ag.url + "/metrics")
    assert 'tally_agent_events_total{result="dropped"} %d' % dropped in text
    col.start()
    ag.drained(timeout=60)
    held = {tx for tx, _ in col_events(col)}
    assert len(held) == len(sent) - dropped
    # What survived is the newest.
    assert sent[-1] in held and sent[0] not in held


def sock_send_raw(ag, data):
    """Send data to the agent's socket, close our side, read all back."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(30)
    c.connect(ag.sock)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        out += chunk
    c.close()
    return out


def sock_send(ag, lines):
    data = sock_send_raw(ag, ("\n".join(lines) + "\n").encode())
    return [json.loads(x) for x in data.decode().splitlines()]


@s.test
def socket_long_blank_and_last_lines(t):
    col = Collector(t)
    ag = Agent(t, col, env={"TALLY_INTAKE_MAX_BODY": "4096"})
    answers = sock_send(ag, [json.dumps(ev("before", gb="1")),
                             json.dumps(ev("long", note="x" * 10000)),
                             json.dumps(ev("after", gb="1"))])
    assert answers == [
        {"status": 200, "transaction_id": "before"},
        {"status": 413, "error": "line longer than 4096 bytes (intake.max_body)"},
        {"status": 200, "transaction_id": "after"}], answers
    assert ag.status()["accepted_events"] == 2
    # Exactly intake.max_body bytes is not longer than it.
    line = json.dumps(ev("exact", gb="1"))
    line = "{" + " " * (4096 - len(line)) + line[1:]     # JSON whitespace
    assert len(line) == 4096
    got = sock_send(ag, [line])
    assert got == [{"status": 200, "transaction_id": "exact"}], got
    # The last line may come without its newline; blank lines are none.
    data = sock_send_raw(ag, b"\n \r\n" + json.dumps(ev("last", gb="1")).encode())
    assert data == b'{"status":200,"transaction_id":"last"}\n', data
    assert ag.status()["accepted_events"] == 4


@s.test
def socket_and_cli_paths(t):
    col = Collector(t)
    ag = Agent(t, col)
    lines = [json.dumps(ev("s-%d" % i, gb="1.5")) for i in range(500)]
    lines.insert(100, '{"transaction_id": "bad", "code": "storage"}')
    lines.insert(200, "this is not json")
    lines.insert(300, json.dumps(ev("s-ts", gb="1")).replace("1764000000", '"yesterday"'))
    answers = sock_send(ag, lines)
    assert len(answers) == 503
    assert answers[0] == {"status": 200, "transaction_id": "s-0"}
    assert answers[100] == {"status": 422, "error":
                            "external_subscription_id: value_is_mandatory"}, answers[100]
    assert answers[200] == {"status": 422, "error": "body: invalid_json"}, answers[200]
    assert answers[300]["status"] == 422 and "timestamp" in answers[300]["error"]
    assert sum(a["status"] == 200 for a in answers) == 500
    # Answers are JSON whatever the transaction id holds.
    odd = 'q"uo\\te\u00e9'
    assert sock_send(ag, [json.dumps(ev(odd, gb="1"))]) == [
        {"status": 200, "transaction_id": odd}]
    listen = ["--listen", "127.0.0.1:%d" % ag.port]
    code, out, err = run([AGENT] + listen + ["send", "--code", "storage", "--subscription",
                                             "sub_1", "--transaction-id", "cli-1", "gb=2.25"])
    assert code == 0 and json.loads(out)["event"]["properties"] == {"gb": "2.25"}, (out, err)
    code, out, err = run([AGENT] + listen + ["send", "--code", "storage", "gb=1"])
    assert code == 1 and "external_subscription_id" in out, (out, err)
    code, out, err = run([AGENT] + listen + ["send", "--code", "storage", "nokeyvalue"])
    assert code == 2 and "KEY=VALUE" in err
    code, body = ag.post([ev("h-1", gb="1"), {"transaction_id": "h-2", "code": "storage"}])
    assert code == 422 and body["error_details"] == {
        "1": {"external_subscription_id": ["value_is_mandatory"]}}, body
    code, body = http("POST", ag.url + "/api/v1/events", raw=b"{not json")
    assert code == 422, body
    ag.drained()
    held = sorted(tx for tx, _ in col_events(col))
    assert len(held) == 502 and "cli-1" in held and "h-1" not in held
    assert odd in held
    st = ag.status()
    assert st["accepted_events"] == 502, st
    # status of a stopped agent reads its buffer.
    ag.proc.stop()
    code, out, _ = run([AGENT, "--data-dir", ag.data, "--listen",
                        "127.0.0.1:%d" % ag.port, "status"])
    assert code == 0 and json.loads(out)["running"] is False, out
    assert json.loads(out)["buffered_events"] == 0


@s.test
def bad_token_stops_shipping(t):
    col = Collector(t)
    col.agent_token("edge-1")
    ag = Agent(t, col, token="tly_" + "1" * 80)
    assert ag.post([ev("x-1")])[0] == 200
    wait_until(lambda: ag.status()["shipping_stopped"], what="shipping to stop")
    st = ag.status()
    assert "401" in st["last_error"] and st["buffered_events"] == 1, st
    assert "refused the agent token" in ag.proc.output()


@s.test
def memory_under_load(t):
    col = Collector(t)
    ag = Agent(t, col)
    time.sleep(0.5)
    idle = ag.rss_kb()
    peak = 0
    for i in range(50):
        assert ag.post([ev("m-%d-%d" % (i, k), gb="1") for k in range(2000)])[0] == 200
        peak = max(peak, ag.rss_kb())
    ag.drained(timeout=120)
    print("agent RSS: idle %d kB, under load %d kB (100,000 events)" % (idle, peak))
    assert len(col_events(col)) == 100000


def context_switches(pid):
    """Every thread's voluntary and involuntary switches so far."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        n += int(line.split()[1])
        except OSError:
            pass    # a thread that ended meanwhile
    return n


@s.test
def idle_agent_sleeps(t):
    # Nothing pending, nothing in flight: every thread waits on something
    # (a socket, a condition, a signal), none on a clock tick.  A shipper
    # that polled every millisecond once nothing was pending made some
    # 600 switches a second.
    col = Collector(t)
    ag = Agent(t, col)
    assert_sleeps_when_drained(ag)


def assert_sleeps_when_drained(ag):
    """Send 100 events, wait for the drain, then count the agent's
    context switches over 2 s of idle: under 40."""
    assert ag.post([ev("idle-%d" % k, gb="1") for k in range(100)])[0] == 200
    ag.drained(timeout=30)
    time.sleep(0.5)
    before = context_switches(ag.proc.pid)
    time.sleep(2.0)
    woke = context_switches(ag.proc.pid) - before
    print("agent context switches in 2 s idle: %d" % woke)
    assert woke < 40, woke


def metric(col, code, agg, field=None, filters=None):
    body = {"name": code, "code": code, "aggregation_type": agg}
    if field:
        body["field_name"] = field
    if filters:
        body["filters"] = filters
    code_, out = col.api("POST", "/billable_metrics", {"billable_metric": body})
    assert code_ == 200, out
    return out["billable_metric"]


def usage_rows(col, code):
    return col.rows("SELECT sub, filters, minute, count, sum FROM usage "
                    "WHERE code = ? ORDER BY minute, filters", code)


@s.test
def preaggregation_one_record(t):
    col = Collector(t)
    metric(col, "gb", "sum_agg", "gb", filters=[{"key": "region", "values": ["eu", "us"]}])
    ag = Agent(t, col)
    wait_until(lambda: "catalog version" in ag.proc.output(), what="the catalog")
    rnd = random.Random(3)
    vals = ["%d.%02d" % (rnd.randrange(10), rnd.randrange(100)) for _ in range(10000)]
    # One subscription, one UTC minute (16:00:00 to 16:00:59), region eu.
    events = [{"transaction_id": "p-%d" % i, "external_subscription_id": "sub_1",
               "code": "gb", "timestamp": 1764000000 + i % 60,
               "properties": {"gb": v, "region": "eu", "host": "h%d" % i}}
              for i, v in enumerate(vals)]
    for i in range(0, 10000, 1000):
        assert ag.post(events[i:i + 1000])[0] == 200
    ag.drained()
    rows = usage_rows(col, "gb")
    assert rows == [("sub_1", '{"region":"eu"}', 1764000000, 10000,
                     str(sum(Decimal(v) for v in vals).normalize()))], rows
    assert col_events(col) == []
    # Far fewer records than events crossed the wire.
    _, text = http("GET", col.url + "/metrics")
    recs = int([l for l in text.splitlines()
                if l.startswith("tally_records_applied_total")][0].split()[-1])
    assert recs <= 10, recs


@s.test
def raw_metrics_ship_every_event(t):
    col = Collector(t)
    m = metric(col, "fees", "sum_agg", "amount")
    plan = {"plan": {"name": "P", "code": "p", "interval": "monthly", "amount_cents": 0,
                     "amount_currency": "USD", "pay_in_advance": False,
                     "charges": [{"billable_metric_id": m["lago_id"],
                                  "charge_model": "percentage",
                                  "properties": {"rate": "1.5"}}]}}
    code, out = col.api("POST", "/plans", plan)
    assert code == 200, out
    ag = Agent(t, col)
    wait_until(lambda: "catalog version" in ag.proc.output(), what="the catalog")
    events = [{"transaction_id": "f-%d" % i, "external_subscription_id": "sub_1",
               "code": "fees", "timestamp": 1764000000,
               "properties": {"amount": "10"}} for i in range(500)]
    assert ag.post(events)[0] == 200
    ag.drained()
    assert len(col_events(col)) == 500
    assert usage_rows(col, "fees") == []


@s.test
def catalog_change_applies_to_later_events(t):
    col = Collector(t)
    ag = Agent(t, col, env={"TALLY_SHIP_CATALOG_INTERVAL": "100ms"})
    # Unknown code: ships raw.
    assert ag.post([{"transaction_id": "c-1", "external_subscription_id": "s",
                     "code": "calls", "timestamp": 1764000000}])[0] == 200
    ag.drained()
    metric(col, "calls", "count_agg")
    wait_until(lambda: "catalog version 2" in ag.proc.output(), what="the new catalog")
    assert ag.post([{"transaction_id": "c-%d" % i, "external_subscription_id": "s",
                     "code": "calls", "timestamp": 1764000000}
                    for i in range(2, 12)])[0] == 200
    ag.drained()
    assert [tx for tx, _ in col_events(col)] == ["c-1"]
    assert usage_rows(col, "calls") == [("s", "{}", 1764000000, 10, None)]


if __name__ == "__main__":
    s.main()
