"""The collector's MQTT ingest against a real mosquitto configured with
packaging/mosquitto/acl: batches applied once and acknowledged on the
agent's ack topic, every refusal acknowledged and changing nothing, the
broker's own refusals (password, another agent's topic), collectors of one
group splitting the load (and one of them killed), the retained catalog,
and TLS.  mosquitto_pub and mosquitto_sub play the agent."""
import json
import os
import socket
import threading
import time
import zlib

from harness import (COLLECTOR, ROOT, Collector, Suite, db_rows, free_port,
                     make_ca_and_cert, run, wait_until)

s = Suite("mqtt_collector")

ACL = os.path.join(ROOT, "packaging", "mosquitto", "acl")
COLL_USER, COLL_PW = "tally-collector", "collector-secret"


class Broker:
    """mosquitto on a free loopback port, with a password file holding the
    collector's user and the given agents (user = agent id, password
    "pw-<id>"), and the packaged ACL.  tls=(ca, cert, key) makes the
    listener MQTT over TLS."""

    def __init__(self, t, agents=("edge-1",), tls=None):
        self.t = t
        self.port = free_port()
        self.tls = tls
        pw = os.path.join(t.tmp, "mosquitto.passwd")
        for i, (user, secret) in enumerate([(COLL_USER, COLL_PW)] +
                                           [(a, "pw-" + a) for a in agents]):
            code, _, err = run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) +
                               [pw, user, secret])
            assert code == 0, err
        lines = ["per_listener_settings false", "allow_anonymous false",
                 "password_file " + pw, "acl_file " + ACL, "persistence false",
                 "log_dest stderr", "log_type error", "log_type warning",
                 "log_type notice", "log_type information"]
        if os.geteuid() == 0:
            lines.append("user root")  # or it drops to "mosquitto", who cannot read tmp
        lines.append("listener %d 127.0.0.1" % self.port)
        if tls:
            lines += ["cafile " + tls[0], "certfile " + tls[1], "keyfile " + tls[2]]
        self.conf = os.path.join(t.tmp, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.start()
        self.uri = "%s://127.0.0.1:%d" % ("mqtts" if tls else "mqtt", self.port)

    def start(self):
        self.proc = self.t.start(["mosquitto", "-c", self.conf], log_name="mosquitto")
        wait_until(self.listening, timeout=10, what="mosquitto to listen")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def client_args(self, user, password=None):
        a = ["-V", "mqttv5", "-h", "127.0.0.1", "-p", str(self.port), "-u", user,
             "-P", password if password is not None else "pw-" + user]
        if self.tls:
            a += ["--cafile", self.tls[0]]
        return a

    def pub(self, user, payload, topic=None, password=None):
        """Publish payload (bytes) with QoS 1 as user; (code, out, err)."""
        path = os.path.join(self.t.tmp, "payload.bin")
        with open(path, "wb") as f:
            f.write(payload)
        return run(["mosquitto_pub"] + self.client_args(user, password) +
                   ["-q", "1", "-t", topic or "tally/v1/ingest/" + user, "-f", path],
                   timeout=30)

    def acks(self, agent):
        """Follow agent's ack topic (as that agent); returns an Acks."""
        return Acks(self, agent)


class Acks:
    """A mosquitto_sub as agent on tally/v1/ack/<of> (of: agent by
    default), ready once subscribed."""

    def __init__(self, broker, agent, of=None):
        of = of or agent
        self.proc = broker.t.start(["stdbuf", "-oL", "mosquitto_sub", "-d"] + broker.client_args(agent) +
                                   ["-q", "1", "-t", "tally/v1/ack/" + of,
                                    "-W", "120"], log_name="acks-%s-%s" % (agent, of))
        wait_until(lambda: "SUBACK" in self.proc.output(), timeout=10,
                   what="mosquitto_sub to subscribe")

    def all(self):
        return [json.loads(l) for l in self.proc.output().splitlines()
                if l.startswith("{")]

    def wait(self, n, timeout=20):
        wait_until(lambda: len(self.all()) >= n, timeout=timeout,
                   what="%d acks (have %d)" % (n, len(self.all())))
        return self.all()


def batch(agent, seq, records, events_total=None):
    if events_total is None:
        events_total = sum(r.get("count", 1) for r in records)
    doc = {"v": 1, "agent_id": agent, "seq": seq, "created_at": 1764000000,
           "events_total": events_total, "records": records}
    return zlib.compress(json.dumps(doc).encode())


def agg(count=10, sub="sub_1", code="api_calls", minute=1764000000):
    return {"kind": "agg", "sub": sub, "code": code, "minute": minute, "count": count}


def event(tx, sub="sub_1", code="storage", ts=1764000012):
    return {"kind": "event", "transaction_id": tx, "sub": sub, "code": code,
            "timestamp": ts, "properties": {"gb": "1"}}


def mqtt_collector(t, broker, db=None, group=None, env=None):
    e = {"TALLY_MQTT_USERNAME": COLL_USER, "TALLY_MQTT_PASSWORD": COLL_PW}
    if group:
        e["TALLY_MQTT_GROUP"] = group
    e.update(env or {})
    return Collector(t, extra=["--mqtt", broker.uri], env=e, db=db)



def connected(col):
    wait_until(lambda: col.metric("tally_mqtt_connected") == 1, timeout=15,
               what="the collector to subscribe")



def state(db):
    return (db_rows(db, "SELECT agent_id, seq FROM batches ORDER BY 1, 2"),
            db_rows(db, "SELECT sub, code, minute, count FROM usage ORDER BY 1, 2, 3"),
            db_rows(db, "SELECT transaction_id FROM events ORDER BY 1"),
            db_rows(db, "SELECT id, batches, events_received FROM agents ORDER BY 1"))


@s.test
def applied_once_and_refusals_acked(t):
    broker = Broker(t, agents=("edge-1", "edge-2"))
    col = mqtt_collector(t, broker)
    col.agent_token("edge-1")
    col.agent_token("edge-2")
    connected(col)
    acks = broker.acks("edge-1")
    b1 = batch("edge-1", 1, [agg(count=10), event("tx-1")])
    assert broker.pub("edge-1", b1)[0] == 0
    assert acks.wait(1) == [{"seq": 1, "status": "applied"}]
    assert broker.pub("edge-1", b1)[0] == 0
    assert acks.wait(2)[1] == {"seq": 1, "status": "duplicate"}
    before = state(col.db)
    assert before[0] == [("edge-1", 1)] and before[1][0][3] == 10, before

    # A batch that claims to be edge-2's, on edge-1's topic.
    assert broker.pub("edge-1", batch("edge-2", 7, [agg()]))[0] == 0
    assert acks.wait(3)[2] == {"seq": 7, "status": "refused",
                               "error": "agent_id_mismatch"}, acks.all()
    # Corrupt: not zlib; and a truncated stream.
    assert broker.pub("edge-1", b"garbage")[0] == 0
    a = acks.wait(4)[3]
    assert a["seq"] is None and a["status"] == "refused" and a["error"], a
    assert broker.pub("edge-1", batch("edge-1", 2, [agg()])[:-6])[0] == 0
    a = acks.wait(5)[4]
    assert a["status"] == "refused" and "truncated" in a["error"], a
    # Valid zlib, invalid batch.
    assert broker.pub("edge-1", batch("edge-1", 3, [agg()], events_total=99))[0] == 0
    a = acks.wait(6)[5]
    assert a["seq"] is None and a["status"] == "refused" and a["error"], a
    assert state(col.db) == before
    assert col.metric('tally_batches_total{result="applied"}') == 1
    assert col.metric('tally_batches_total{result="duplicate"}') == 1
    assert col.metric('tally_batches_refused_total{reason="forbidden"}') == 1
    assert col.metric('tally_batches_refused_total{reason="corrupt"}') == 2
    assert col.metric('tally_batches_refused_total{reason="invalid"}') == 1
    # And the next good batch still goes through.
    assert broker.pub("edge-1", batch("edge-1", 2, [agg(count=5)]))[0] == 0
    assert acks.wait(7)[6] == {"seq": 2, "status": "applied"}
    assert db_rows(col.db, "SELECT count FROM usage") == [(15,)]


@s.test
def unregistered_and_revoked_agents_refused(t):
    broker = Broker(t, agents=("edge-8", "edge-9"))
    col = mqtt_collector(t, broker)
    col.agent_token("edge-8")
    connected(col)
    before = state(col.db)
    acks9 = broker.acks("edge-9")  # in the broker, not at the collector
    assert broker.pub("edge-9", batch("edge-9", 1, [agg()]))[0] == 0
    assert acks9.wait(1) == [{"seq": 1, "status": "refused",
                              "error": "unknown_or_revoked_agent"}]
    code, _, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "agents", "revoke", "edge-8"])
    assert code == 0, err
    acks8 = broker.acks("edge-8")
    assert broker.pub("edge-8", batch("edge-8", 1, [agg()]))[0] == 0
    assert acks8.wait(1)[0]["status"] == "refused"
    assert state(col.db) == before
    assert col.metric('tally_batches_refused_total{reason="auth"}') == 2


@s.test
def broker_refuses_bad_password_and_foreign_topic(t):
    broker = Broker(t, agents=("edge-1", "edge-2"))
    col = mqtt_collector(t, broker)
    col.agent_token("edge-1")
    col.agent_token("edge-2")
    connected(col)
    code, out, err = broker.pub("edge-1", batch("edge-1", 1, [agg()]), password="wrong")
    assert code != 0 and "not authorized" in (out + err).lower(), (code, out, err)
    # edge-1 publishing a batch of edge-2's on edge-2's topic: with MQTT 5
    # and QoS 1 mosquitto answers PUBACK "not authorized" and drops it.
    code, out, err = broker.pub("edge-1", batch("edge-2", 1, [agg()]),
                                topic="tally/v1/ingest/edge-2")
    assert "not authorized" in (out + err).lower(), (code, out, err)
    # edge-1 may not read edge-2's acks either (subscribed, gets nothing);
    # a good batch of edge-2's shows the collector is there and consuming.
    spy = broker.acks("edge-2")
    own = Acks(broker, "edge-1", of="edge-2")
    assert broker.pub("edge-2", batch("edge-2", 1, [agg(count=3)]))[0] == 0
    assert spy.wait(1) == [{"seq": 1, "status": "applied"}]
    time.sleep(0.5)
    assert own.all() == [], own.all()
    assert db_rows(col.db, "SELECT agent_id, seq FROM batches") == [("edge-2", 1)]
    assert db_rows(col.db, "SELECT count FROM usage") == [(3,)]


def publish_all(broker, agent, seqs, make):
    for seq in seqs:
        code, _, err = broker.pub(agent, make(seq))
        assert code == 0, err


def two_event_batch(seq):
    return batch("edge-1", seq, [agg(count=2), event("tx-%d" % seq)])


def check_totals(db, n):
    assert db_rows(db, "SELECT count(*) FROM batches") == [(n,)]
    assert db_rows(db, "SELECT count(*), count(DISTINCT transaction_id) FROM events") == [(n, n)]
    assert db_rows(db, "SELECT sum(count) FROM usage") == [(2 * n,)]
    assert db_rows(db, "SELECT batches, events_received FROM agents WHERE id = 'edge-1'") == \
        [(n, 3 * n)]


def two_collectors(t):
    """A broker, two collectors of one group on one database, subscribed,
    with agent edge-1 registered; and a listener of edge-1's acks."""
    broker = Broker(t)
    a = mqtt_collector(t, broker, group="g1")
    b = mqtt_collector(t, broker, db=a.db, group="g1")
    a.agent_token("edge-1")
    connected(a)
    connected(b)
    return broker, a, b, broker.acks("edge-1")


@s.test
def two_collectors_split_the_load(t):
    broker, a, b, acks = two_collectors(t)
    publish_all(broker, "edge-1", range(1, 201), two_event_batch)
    got = acks.wait(200, timeout=60)
    assert sorted(x["seq"] for x in got) == list(range(1, 201))
    assert {x["status"] for x in got} == {"applied"}
    na = a.metric('tally_batches_total{result="applied"}')
    nb = b.metric('tally_batches_total{result="applied"}')
    assert na > 0 and nb > 0 and na + nb == 200, (na, nb)
    check_totals(a.db, 200)


@s.test
def collector_killed_midway_other_finishes(t):
    broker, a, b, acks = two_collectors(t)
    sender = threading.Thread(target=publish_all,
                              args=(broker, "edge-1", range(1, 201), two_event_batch))
    sender.start()
    try:
        wait_until(lambda: len(acks.all()) >= 60, timeout=30, what="60 acks")
        assert a.metric('tally_batches_total{result="applied"}') > 0
        a.proc.kill9()
    finally:
        sender.join()
    # Like an agent's outbox: send again what has no ack yet, until all are.
    for _ in range(10):
        time.sleep(1.5)
        missing = sorted(set(range(1, 201)) - {x["seq"] for x in acks.all()})
        if not missing:
            break
        print("resending %d batches without an ack" % len(missing))
        publish_all(broker, "edge-1", missing, two_event_batch)
    got = acks.all()
    assert {x["seq"] for x in got} == set(range(1, 201)), len(got)
    assert {x["status"] for x in got} <= {"applied", "duplicate"}
    assert b.metric('tally_batches_total{result="applied"}') > 0
    check_totals(b.db, 200)


@s.test
def reconnects_after_a_broker_restart(t):
    broker = Broker(t)
    col = mqtt_collector(t, broker)
    col.agent_token("edge-1")
    connected(col)
    broker.proc.stop()
    wait_until(lambda: col.metric("tally_mqtt_connected") == 0, timeout=10,
               what="the collector to see the broker go")
    broker.start()
    connected(col)  # reconnected, and subscribed again (clean start)
    acks = broker.acks("edge-1")
    assert broker.pub("edge-1", batch("edge-1", 1, [agg()]))[0] == 0
    assert acks.wait(1) == [{"seq": 1, "status": "applied"}]
    # The broker kept nothing (no persistence here): the catalog is retained
    # again, published on the new connection.
    wait_until(lambda: retained_catalog(broker) is not None, timeout=10,
               what="the catalog again")


def retained_catalog(broker):
    code, out, _ = run(["mosquitto_sub"] + broker.client_args("edge-1") +
                       ["-t", "tally/v1/catalog", "-C", "1", "-W", "3"])
    return json.loads(out) if code == 0 and out.strip() else None


@s.test
def catalog_retained(t):
    broker = Broker(t)
    col = mqtt_collector(t, broker)
    connected(col)

    def catalog():
        return retained_catalog(broker)

    wait_until(lambda: catalog() is not None, timeout=10, what="a retained catalog")
    first = catalog()
    assert first["metrics"] == [], first
    st, body = col.api("POST", "/billable_metrics", {"billable_metric": {
        "name": "API calls", "code": "api_calls", "aggregation_type": "count_agg"}})
    assert st == 200, body
    wait_until(lambda: [m["code"] for m in (catalog() or {"metrics": []})["metrics"]]
               == ["api_calls"], timeout=15, what="the new catalog, retained")
    assert catalog()["version"] > first["version"]


@s.test
def tls_connects_with_the_right_ca(t):
    ca, cert, key = make_ca_and_cert(t.tmp)
    broker = Broker(t, tls=(ca, cert, key))
    col = mqtt_collector(t, broker, env={"TALLY_MQTT_CA_FILE": ca})
    col.agent_token("edge-1")
    connected(col)
    acks = broker.acks("edge-1")
    assert broker.pub("edge-1", batch("edge-1", 1, [agg()]))[0] == 0
    assert acks.wait(1) == [{"seq": 1, "status": "applied"}]


@s.test
def tls_refuses_a_broker_of_another_ca(t):
    ca, cert, key = make_ca_and_cert(t.tmp)
    other, _, _ = make_ca_and_cert(t.tmp, name="other")
    broker = Broker(t, tls=(ca, cert, key))
    col = mqtt_collector(t, broker, env={"TALLY_MQTT_CA_FILE": other})
    wait_until(lambda: "TLS" in col.proc.output(), timeout=15, what="a log line about TLS")
    time.sleep(1)
    assert col.metric("tally_mqtt_connected") == 0
    assert "certificate verify failed" in col.proc.output(), col.proc.output()


@s.test
def bad_settings_exit_non_zero(t):
    db = os.path.join(t.tmp, "c.db")
    for extra, env, want in (
            (["--mqtt", "http://127.0.0.1:1"], {}, "not a broker URI"),
            (["--mqtt", "mqtts://127.0.0.1:1"], {"TALLY_MQTT_CA_FILE": "/nonexistent.pem"},
             "/nonexistent.pem"),
            (["--mqtt", "mqtt://127.0.0.1:1"], {"TALLY_MQTT_GROUP": "a/b"}, "mqtt.group")):
        code, out, err = run([COLLECTOR, "--db", "sqlite:" + db, "--listen",
                              "127.0.0.1:%d" % free_port()] + extra, env=env, timeout=20)
        assert code == 2 and want in err, (extra, code, err)


if __name__ == "__main__":
    s.main()
