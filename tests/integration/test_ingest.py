"""POST /v1/ingest and GET /v1/catalog against a real collector: batches
applied once, every refusal with its status and nothing changed, tokens,
restarts."""
import json
import zlib

from harness import Collector, Suite, http, run, COLLECTOR

s = Suite("ingest")


def batch(agent, seq, records, events_total=None, v=1):
    if events_total is None:
        events_total = sum(r.get("count", 1) for r in records)
    doc = {"v": v, "agent_id": agent, "seq": seq, "created_at": 1764000000,
           "events_total": events_total, "records": records}
    return zlib.compress(json.dumps(doc).encode())


def agg(sub="sub_1", code="api_calls", minute=1764000000, count=10, **kw):
    r = {"kind": "agg", "sub": sub, "code": code, "minute": minute, "count": count}
    r.update(kw)
    return r


def event(tx, sub="sub_1", code="storage", ts=1764000012, **props):
    return {"kind": "event", "transaction_id": tx, "sub": sub, "code": code,
            "timestamp": ts, "properties": props}


def send(col, token, body, encoding="deflate"):
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"}
    if encoding:
        h["Content-Encoding"] = encoding
    return http("POST", col.url + "/v1/ingest", raw=body, headers=h)



def state(col):
    """Everything a batch can change, to show that a refusal changed nothing."""
    return (col.rows("SELECT * FROM batches ORDER BY agent_id, seq"),
            col.rows("SELECT * FROM usage ORDER BY sub, code, minute"),
            col.rows("SELECT transaction_id, sub, code, ts_ms, properties "
                         "FROM events ORDER BY transaction_id"),
            col.rows("SELECT id, batches, events_received, events_duplicate, "
                         "last_seq FROM agents ORDER BY id"))



@s.test
def applied_once_and_merged(t):
    col = Collector(t)
    tok = col.agent_token("edge-1")
    b1 = batch("edge-1", 1, [agg(count=10, sum="1.5", max="3", latest="2", latest_ts=1764000030,
                                 filters={"region": "eu", "az": "a"}, distinct=["x", "y"]),
                             event("tx-1", gb="3.2")])
    assert send(col, tok, b1) == (200, {"seq": 1, "status": "applied"})
    assert send(col, tok, b1) == (200, {"seq": 1, "status": "duplicate"})
    # A second batch merges into the same minute: sums add exactly, max keeps
    # the larger, latest the later timestamp, distinct is a set.
    b2 = batch("edge-1", 2, [agg(count=5, sum="0.25", max="2.5", latest="9", latest_ts=1764000050,
                                 filters={"az": "a", "region": "eu"}, distinct=["y", "z"]),
                             event("tx-1", gb="999"), event("tx-2", gb="1")])
    assert send(col, tok, b2) == (200, {"seq": 2, "status": "applied"})
    rows = col.rows("SELECT filters, count, sum, max, latest, latest_ts FROM usage")
    assert rows == [('{"az":"a","region":"eu"}', 15, "1.75", "3", "9", 1764000050)], rows
    distinct = col.rows("SELECT value FROM usage_distinct ORDER BY value")
    assert distinct == [("x",), ("y",), ("z",)], distinct
    ev = col.rows("SELECT transaction_id, properties, source FROM events ORDER BY 1")
    assert ev == [("tx-1", '{"gb":"3.2"}', "edge-1"), ("tx-2", '{"gb":"1"}', "edge-1")], ev
    assert col.rows("SELECT batches, events_received, events_duplicate, last_seq "
                        "FROM agents") == [(2, 11 + 7, 1, 2)]
    assert col.metric('tally_batches_total{result="applied"}') == 2
    assert col.metric('tally_batches_total{result="duplicate"}') == 1
    assert col.metric("tally_events_duplicate_total") == 1


@s.test
def refusals_change_nothing(t):
    col = Collector(t, extra=["--log-level", "error"],
                    env={"TALLY_HTTP_MAX_BODY": "64KB"})
    tok = col.agent_token("edge-1")
    col.agent_token("edge-2")
    assert send(col, tok, batch("edge-1", 1, [agg()]))[0] == 200
    before = state(col)

    good = batch("edge-1", 2, [agg(count=3)])
    code, body = send(col, "tly_" + "0" * 80, good)
    assert (code, body) == (401, {"status": 401, "error": "Unauthorized"}), body
    code, body = send(col, "", good)
    assert code == 401, body
    code, body = send(col, tok, batch("edge-2", 2, [agg()]))
    assert code == 403 and body["code"] == "agent_id_mismatch", body
    code, body = send(col, tok, good[:-6])
    assert code == 400 and "truncated" in body["error"], body
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    code, body = send(col, tok, bytes(corrupt))
    assert code == 400, body
    code, body = send(col, tok, json.dumps({"v": 1}).encode())
    assert code == 400, body
    code, body = send(col, tok, good, encoding="gzip")
    assert code == 400 and "deflate" in body["error"], body
    # A decompression bomb: 50 MB of zeros in ~50 KB.
    bomb = zlib.compress(b"{" + b" " * 50000000 + b"}", 9)
    code, body = send(col, tok, bomb)
    assert code == 413, body
    # Over the body cap: refused on Content-Length by the HTTP layer, before
    # the ingest handler (so not in tally_batches_refused_total).
    code, body = send(col, tok, b"x" * 70000)
    assert code == 413, body
    code, body = send(col, tok, batch("edge-1", 2, [agg()], v=2))
    assert code == 400 and "version" in body["error"], body
    code, body = send(col, tok, batch("edge-1", 2, [agg(count=3)], events_total=4))
    assert code == 422 and "events_total" in json.dumps(body), body
    code, body = send(col, tok, batch("edge-1", 2, [agg(), agg(sum=1.5)]))
    assert code == 422 and "records[1].sum" in json.dumps(body), body
    code, body = send(col, tok, batch("edge-1", 2, [agg(minute=1764000001)]))
    assert code == 422 and "minute" in json.dumps(body), body
    assert state(col) == before
    assert col.metric('tally_batches_refused_total{reason="auth"}') == 2
    assert col.metric('tally_batches_refused_total{reason="forbidden"}') == 1
    assert col.metric('tally_batches_refused_total{reason="too_large"}') == 1
    assert col.metric('tally_batches_refused_total{reason="corrupt"}') == 5
    assert col.metric('tally_batches_refused_total{reason="invalid"}') == 3
    assert send(col, tok, good) == (200, {"seq": 2, "status": "applied"})


@s.test
def tokens_revoked_and_listed(t):
    col = Collector(t)
    tok = col.agent_token("edge-1")
    code, _, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "agents", "add", "edge-1"])
    assert code == 1 and "exists already" in err, err
    code, _, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "agents", "add", "bad id!"])
    assert code == 1 and "not valid" in err, err
    assert send(col, tok, batch("edge-1", 1, [agg()]))[0] == 200
    code, out, _ = run([COLLECTOR, "--db", "sqlite:" + col.db, "agents", "list"])
    assert code == 0 and "edge-1" in out and "active" in out, out
    # Only a hash of the token is stored.
    stored = col.rows("SELECT key_id, token_hash FROM agents")
    assert tok not in json.dumps(stored) and stored[0][0] == tok[4:20]
    code, _, _ = run([COLLECTOR, "--db", "sqlite:" + col.db, "agents", "revoke", "edge-1"])
    assert code == 0
    code, _ = send(col, tok, batch("edge-1", 2, [agg()]))
    assert code == 401
    code, _, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "agents", "revoke", "edge-1"])
    assert code == 1 and "no active agent" in err


@s.test
def restart_keeps_acknowledged(t):
    col = Collector(t)
    tok = col.agent_token("edge-1")
    for seq in range(1, 21):
        recs = [event("tx-%d" % seq, gb=str(seq)), agg(count=seq, sum=str(seq))]
        assert send(col, tok, batch("edge-1", seq, recs))[1]["status"] == "applied"
    col.proc.kill9()
    col.start()
    assert col.rows("SELECT count(*) FROM events") == [(20,)]
    assert col.rows("SELECT count, sum FROM usage") == [(210, "210")]
    # Every batch resent after the restart is a duplicate.
    for seq in range(1, 21):
        recs = [event("tx-%d" % seq, gb=str(seq)), agg(count=seq, sum=str(seq))]
        assert send(col, tok, batch("edge-1", seq, recs))[1]["status"] == "duplicate"
    assert col.rows("SELECT count, sum FROM usage") == [(210, "210")]
    assert col.stop() == 0


@s.test
def catalog_needs_a_token(t):
    col = Collector(t)
    tok = col.agent_token("edge-1")
    code, cat = http("GET", col.url + "/v1/catalog",
                     headers={"Authorization": "Bearer " + tok})
    assert code == 200 and cat["metrics"] == [] and cat["version"] >= 1, cat
    code, _ = http("GET", col.url + "/v1/catalog")
    assert code == 401


if __name__ == "__main__":
    s.main()
