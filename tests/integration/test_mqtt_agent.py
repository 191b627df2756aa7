"""The agent shipping over MQTT (mosquitto, MQTT v5, QoS 1) to a real
collector: exactly-once delivery of every acknowledged event through
repeats, a broker killed and restarted, the agent killed with kill -9;
wrong credentials and a wrong CA ship nothing and lose nothing; TLS
ships; a batch the collector refuses stays in the outbox; the retained
catalog reaches the agent."""
import json
import os
import socket
import threading
import time
from decimal import Decimal

from harness import (ROOT, Agent, Collector, Suite, free_port, make_ca_and_cert, run,
                     wait_until)
from test_agent import (assert_held_once, assert_sleeps_when_drained, col_agent_counts,
                        col_events, ev, kill9_while_sending, metric, post_in_parallel,
                        repeats_workload, sender, usage_rows)

s = Suite("mqtt_agent")

COLLECTOR_USER = "tally-collector"
COLLECTOR_PASS = "collector-secret"
AGENT_PASS = "agent-secret"
PACKAGED_ACL = os.path.join(ROOT, "packaging", "mosquitto", "acl")
# The rules of packaging/mosquitto/acl, for a checkout without it.
FALLBACK_ACL = """pattern write tally/v1/ingest/%u
pattern read tally/v1/ack/%u
pattern read tally/v1/catalog
user tally-collector
topic read tally/v1/ingest/#
topic write tally/v1/ack/#
topic readwrite tally/v1/catalog
"""


class Broker:
    """mosquitto on a free loopback port with passwords and the ACL;
    users maps user name to password.  tls = (ca, cert, key) for a TLS
    listener.  Restarts on the same port."""

    def __init__(self, suite, users, tls=None):
        self.suite = suite
        self.port = free_port()
        self.tls = tls
        self.uri = "%s://127.0.0.1:%d" % ("mqtts" if tls else "mqtt", self.port)
        d = suite.tmp
        self.pwfile = os.path.join(d, "mosquitto.passwd")
        for i, (user, pw) in enumerate(sorted(users.items())):
            code, out, err = run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) +
                                 [self.pwfile, user, pw])
            assert code == 0, err
        acl = PACKAGED_ACL
        if not os.path.exists(acl):
            acl = os.path.join(d, "mosquitto.acl")
            with open(acl, "w") as f:
                f.write(FALLBACK_ACL)
        self.conf = os.path.join(d, "mosquitto.conf")
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous false",
                 "password_file " + self.pwfile, "acl_file " + acl,
                 "persistence false", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            lines.append("user root")      # read the files of the temp dir
        if tls:
            ca, cert, key = tls
            lines += ["cafile " + ca, "certfile " + cert, "keyfile " + key]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.suite.start(["mosquitto", "-c", self.conf], log_name="mosquitto")
        wait_until(self.listening, timeout=10, what="mosquitto to listen")

    def listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


def mqtt_collector(t, broker, ca=None):
    env = {"TALLY_MQTT_USERNAME": COLLECTOR_USER, "TALLY_MQTT_PASSWORD": COLLECTOR_PASS}
    if ca:
        env["TALLY_MQTT_CA_FILE"] = ca
    col = Collector(t, extra=["--mqtt", broker.uri], env=env)
    # Batches published before the collector subscribes reach nobody.
    wait_until(lambda: "mqtt: subscribed to" in col.proc.output(), timeout=15,
               what="the collector's MQTT subscription")
    return col


def mqtt_agent(t, col, broker, agent_id="edge-1", password=AGENT_PASS, env=None,
               token=None, name="agent"):
    e = {"TALLY_MQTT_PASSWORD": password}
    e.update(env or {})
    return Agent(t, col, agent_id=agent_id, token=token, extra=["--mqtt", broker.uri],
                 env=e, name=name)


def setup(t, agent_env=None, agents=("edge-1",)):
    users = {COLLECTOR_USER: COLLECTOR_PASS}
    users.update({a: AGENT_PASS for a in agents})
    broker = Broker(t, users)
    col = mqtt_collector(t, broker)
    ag = mqtt_agent(t, col, broker, env=agent_env)
    return broker, col, ag


def connected(ag):
    return ag.status()["connected"]


@s.test
def hundred_thousand_with_repeats(t):
    broker, col, ag = setup(t)
    wait_until(lambda: connected(ag), what="the agent to connect")
    st = ag.status()
    assert st["transport"] == "mqtt" and st["connected"], st
    sent, chunks = repeats_workload()
    post_in_parallel(ag, chunks)
    st = assert_held_once(col, ag, sent)
    assert st["outbox_batches"] == 0 and st["batches_acked"] >= 9, st
    received, dups = col_agent_counts(col, "edge-1")
    assert received - dups == 90000, (received, dups)


def assert_exact(col, acked, gb="1"):
    """Every acknowledged event once, and nothing twice."""
    rows = col_events(col)
    txs = [tx for tx, _ in rows]
    assert len(txs) == len(set(txs)), "an event was counted twice"
    missing = acked - set(txs)
    assert not missing, sorted(missing)[:5]
    total = sum(Decimal(json.loads(p)["gb"]) for _, p in rows)
    assert total == Decimal(gb) * len(txs), (total, len(txs))
    return txs


@s.test
def broker_killed_and_restarted(t):
    broker, col, ag = setup(t, agent_env={"TALLY_SHIP_BATCH_MAX_EVENTS": "50"})
    wait_until(lambda: connected(ag), what="the agent to connect")
    acked = set()
    for r in range(3):
        stop = threading.Event()
        senders = [threading.Thread(target=sender, args=(ag, "r%d-%d" % (r, k), acked, stop))
                   for k in range(3)]
        for th in senders:
            th.start()
        time.sleep(0.7)
        broker.proc.kill9()        # mid-shipping: batches and acks in flight
        wait_until(lambda: not connected(ag), what="the agent to notice")
        time.sleep(0.5)            # events keep coming while the broker is away
        stop.set()
        for th in senders:
            th.join()
        assert ag.status()["buffered_events"] > 0
        broker.start()
        wait_until(lambda: connected(ag), timeout=30, what="the agent to reconnect")
    ag.drained(timeout=120)
    assert connected(ag)
    txs = assert_exact(col, acked)
    assert len(txs) == len(acked), (len(txs), len(acked))
    assert len(acked) > 100, len(acked)
    received, dups = col_agent_counts(col, "edge-1")
    assert received - dups == len(txs), (received, dups, len(txs))


@s.test
def agent_kill9_rounds(t):
    broker, col, ag = setup(t, agent_env={"TALLY_SHIP_BATCH_MAX_EVENTS": "50"})
    acked = kill9_while_sending(ag, 8, (0.1, 0.8))
    ag.drained(timeout=120)
    txs = assert_exact(col, acked)
    received, dups = col_agent_counts(col, "edge-1")
    assert received - dups == len(txs), (received, dups, len(txs))
    assert len(acked) > 100, len(acked)


@s.test
def wrong_password_ships_nothing_loses_nothing(t):
    users = {COLLECTOR_USER: COLLECTOR_PASS, "edge-1": AGENT_PASS}
    broker = Broker(t, users)
    col = mqtt_collector(t, broker)
    ag = mqtt_agent(t, col, broker, password="not-the-password")
    assert ag.post([ev("w-%d" % i, gb="2") for i in range(100)])[0] == 200
    wait_until(lambda: "not authorized" in ag.status()["last_error"],
               what="the refusal in last_error")
    time.sleep(1.0)
    st = ag.status()
    assert not st["connected"] and st["buffered_events"] == 100, st
    assert st["batches_sent"] == 0 and st["ship_failures"] > 0, st
    assert "mqtt.password" in st["last_error"], st
    assert "ERROR" in ag.proc.output() and "not authorized" in ag.proc.output()
    assert col_events(col) == []
    # Fixed and restarted: everything arrives.
    ag.proc.stop()
    ag.env["TALLY_MQTT_PASSWORD"] = AGENT_PASS
    ag.start()
    ag.drained(timeout=60)
    rows = col_events(col)
    assert len(rows) == 100
    assert sum(Decimal(json.loads(p)["gb"]) for _, p in rows) == Decimal("200")


@s.test
def tls_ships_and_wrong_ca_does_not_connect(t):
    ca, cert, key = make_ca_and_cert(t.tmp)
    other_ca, _, _ = make_ca_and_cert(t.tmp, name="other")
    users = {COLLECTOR_USER: COLLECTOR_PASS, "edge-1": AGENT_PASS, "edge-2": AGENT_PASS}
    broker = Broker(t, users, tls=(ca, cert, key))
    assert broker.uri.startswith("mqtts://")
    col = mqtt_collector(t, broker, ca=ca)
    ag = mqtt_agent(t, col, broker, env={"TALLY_MQTT_CA_FILE": ca})
    assert ag.post([ev("tls-%d" % i, gb="1.5") for i in range(200)])[0] == 200
    ag.drained(timeout=60)
    st = ag.status()
    assert st["connected"] and st["transport"] == "mqtt", st
    # A CA that did not sign the broker's certificate: no connection.
    bad = mqtt_agent(t, col, broker, agent_id="edge-2", name="bad-ca",
                     env={"TALLY_MQTT_CA_FILE": other_ca})
    assert bad.post([ev("bad-%d" % i, gb="1") for i in range(50)])[0] == 200
    wait_until(lambda: bad.status()["ship_failures"] >= 2, what="TLS failures")
    st = bad.status()
    assert not st["connected"] and st["buffered_events"] == 50, st
    assert st["batches_sent"] == 0 and "TLS" in st["last_error"], st
    rows = col_events(col)
    assert len(rows) == 200 and not any(tx.startswith("bad-") for tx, _ in rows)
    assert sum(Decimal(json.loads(p)["gb"]) for _, p in rows) == Decimal("300")


@s.test
def refused_batch_stays_until_agent_registered(t):
    users = {COLLECTOR_USER: COLLECTOR_PASS, "edge-9": AGENT_PASS}
    broker = Broker(t, users)
    col = mqtt_collector(t, broker)
    # Not registered at the collector: its batches are refused.
    ag = mqtt_agent(t, col, broker, agent_id="edge-9", token="unused")
    assert ag.post([ev("u-%d" % i, gb="1") for i in range(10)])[0] == 200
    wait_until(lambda: "refused" in ag.status()["last_error"], what="a refusal")
    st = ag.status()
    assert st["connected"] and st["buffered_events"] == 10, st
    assert st["outbox_batches"] == 1 and st["ship_failures"] >= 1, st
    assert "collector refused batch" in ag.proc.output()
    col.agent_token("edge-9")
    ag.drained(timeout=60)
    assert len(col_events(col)) == 10


@s.test
def catalog_reaches_the_agent(t):
    users = {COLLECTOR_USER: COLLECTOR_PASS, "edge-1": AGENT_PASS}
    broker = Broker(t, users)
    col = mqtt_collector(t, broker)
    metric(col, "gb", "sum_agg", "gb", filters=[{"key": "region", "values": ["eu", "us"]}])
    ag = mqtt_agent(t, col, broker)
    # Version 2: the catalog with the metric (the collector polls for it).
    wait_until(lambda: "catalog version 2" in ag.proc.output(), what="the catalog")
    vals = ["%d.%02d" % (i % 10, i % 100) for i in range(2000)]
    events = [{"transaction_id": "p-%d" % i, "external_subscription_id": "sub_1",
               "code": "gb", "timestamp": 1764000000 + i % 60,
               "properties": {"gb": v, "region": "eu"}} for i, v in enumerate(vals)]
    assert ag.post(events)[0] == 200
    ag.drained()
    rows = usage_rows(col, "gb")
    assert [r[:4] for r in rows] == [("sub_1", '{"region":"eu"}', 1764000000, 2000)], rows
    assert Decimal(rows[0][4]) == sum(Decimal(v) for v in vals), rows
    assert col_events(col) == []


@s.test
def idle_agent_sleeps(t):
    # As over HTTP (test_agent): nothing pending, no thread ticks.
    broker, col, ag = setup(t)
    wait_until(lambda: connected(ag), what="the agent connected")
    assert_sleeps_when_drained(ag)


if __name__ == "__main__":
    s.main()
