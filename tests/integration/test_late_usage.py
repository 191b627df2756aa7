"""Late usage (issue 6): events that arrive for a finalized period are kept
and recorded as late, never billed silently nor dropped.  Raw events through
POST /api/v1/events and an agent's batch (a raw event and a pre-aggregated
record) land after November is finalized: GET /v1/late_usage lists them with
their invoice, tally_events_late_total counts them, the invoice stays as it
was and the usage stays stored.  Usage of an unbilled period, of a draft
(grace period) or of the first period of a plan in advance (whose usage a
later invoice bills) is not late."""
import json
import zlib

from harness import COLLECTOR, Collector, Suite, http, run

s = Suite("late_usage")

NOV = 1761955200        # 2025-11-01T00:00:00Z
DEC = 1764547200        # 2025-12-01T00:00:00Z
DAY = 86400


def ok(col, method, path, body=None):
    code, out = col.api(method, path, body)
    assert code == 200, (method, path, code, out)
    return out


def setup(col, plan="startup", advance=False):
    """Customer acme, metrics calls (count) and storage (sum of gb), a
    monthly plan and the subscription acme-1 from November 1st."""
    ok(col, "POST", "/customers", {"customer": {"external_id": "acme",
                                                "currency": "USD"}})
    ids = {}
    for code, agg, field in (("calls", "count_agg", None),
                             ("storage", "sum_agg", "gb")):
        body = {"name": code.title(), "code": code, "aggregation_type": agg}
        if field:
            body["field_name"] = field
        ids[code] = ok(col, "POST", "/billable_metrics",
                       {"billable_metric": body})["billable_metric"]["lago_id"]
    ok(col, "POST", "/plans", {"plan": {
        "name": plan.title(), "code": plan, "interval": "monthly",
        "amount_cents": 1000, "amount_currency": "USD", "pay_in_advance": advance,
        "charges": [
            {"billable_metric_id": ids["calls"], "charge_model": "standard",
             "properties": {"amount": "0.01"}},
            {"billable_metric_id": ids["storage"], "charge_model": "standard",
             "properties": {"amount": "1"}}]}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "acme", "plan_code": plan, "external_id": "acme-1",
        "subscription_at": "2025-11-01T00:00:00Z"}})


def ev(tx, ts, code="storage", sub="acme-1", **props):
    return {"transaction_id": tx, "external_subscription_id": sub, "code": code,
            "timestamp": ts, "properties": props}


def bill(col, at):
    code, out, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "bill", "--at", at],
                         env=col.env)
    assert code == 0, err


def invoices(col):
    out = ok(col, "GET", "/invoices?external_customer_id=acme")["invoices"]
    return sorted(out, key=lambda i: i["issuing_date"])


def late(col, query="", key=None):
    return http("GET", col.url + "/v1/late_usage" + query,
                headers={"Authorization": "Bearer " + (key or col.api_key)})


def late_list(col, query=""):
    code, out = late(col, query)
    assert code == 200, (code, out)
    return out



def batch(agent, seq, records):
    doc = {"v": 1, "agent_id": agent, "seq": seq, "created_at": DEC + 10 * DAY,
           "events_total": sum(r.get("count", 1) for r in records),
           "records": records}
    return zlib.compress(json.dumps(doc).encode())


def ingest(col, token, body):
    return http("POST", col.url + "/v1/ingest", raw=body, headers={
        "Authorization": "Bearer " + token, "Content-Encoding": "deflate",
        "Content-Type": "application/octet-stream"})



@s.test
def late_after_finalized(t):
    col = Collector(t)
    setup(col)
    ok(col, "POST", "/events/batch", {"events": [
        ev("s1", NOV + 2 * DAY, gb="3"),
        ev("c1", NOV + 3 * DAY, code="calls")]})
    bill(col, "2025-12-01T00:00:00Z")
    (inv,) = invoices(col)
    assert inv["status"] == "finalized" and inv["number"] == "TLY-000001", inv
    # $10 + 3 GB x $1 + 1 call x $0.01 = 1301 cents.
    assert inv["total_amount_cents"] == 1301, inv
    before = ok(col, "GET", "/invoices/" + inv["lago_id"])["invoice"]
    assert late_list(col)["late_usage"] == []

    # A raw event for November through the API: late.  Its retry is
    # not a second late event.
    ok(col, "POST", "/events", {"event": ev("late-api", NOV + 20 * DAY, gb="5")})
    ok(col, "POST", "/events", {"event": ev("late-api", NOV + 20 * DAY, gb="5")})
    # December is not billed yet: not late.
    ok(col, "POST", "/events", {"event": ev("dec-api", DEC + 2 * DAY, gb="1")})

    # An agent's batch: a November minute of 7 calls and a November raw
    # event (late), a December minute and a December event (not late).
    tok = col.agent_token("edge-1")
    nov_minute = NOV + 15 * DAY + 600
    code, body = ingest(col, tok, batch("edge-1", 1, [
        {"kind": "agg", "sub": "acme-1", "code": "calls", "minute": nov_minute,
         "count": 7},
        {"kind": "event", "transaction_id": "late-agent", "sub": "acme-1",
         "code": "storage", "timestamp": NOV + 29 * DAY, "properties": {"gb": "2"}},
        {"kind": "agg", "sub": "acme-1", "code": "calls", "minute": DEC + 3600,
         "count": 4},
        {"kind": "event", "transaction_id": "dec-agent", "sub": "acme-1",
         "code": "storage", "timestamp": DEC + DAY, "properties": {"gb": "2"}}]))
    assert (code, body) == (200, {"seq": 1, "status": "applied"}), body

    out = late_list(col)
    rows = out["late_usage"]
    assert [(r["transaction_id"], r["source"]) for r in rows] == [
        ("late-agent", "edge-1"), (None, "edge-1"), ("late-api", "api")], rows
    for r in rows:
        assert r["lago_invoice_id"] == inv["lago_id"], r
        assert r["invoice_number"] == "TLY-000001", r
        assert r["external_subscription_id"] == "acme-1", r
        assert r["received_at"].startswith("20"), r
    ag, agg, api = rows
    assert (ag["code"], ag["minute"], ag["events"], ag["timestamp"]) == \
        ("storage", None, 1, "2025-11-30T00:00:00Z"), ag
    assert (agg["code"], agg["minute"], agg["events"], agg["timestamp"]) == \
        ("calls", nov_minute, 7, "2025-11-16T00:10:00Z"), agg
    assert (api["code"], api["minute"], api["events"], api["timestamp"]) == \
        ("storage", None, 1, "2025-11-21T00:00:00Z"), api
    assert out["meta"] == {"current_page": 1, "next_page": None, "prev_page": None,
                           "total_pages": 1, "total_count": 3}, out["meta"]
    assert col.metric("tally_events_late_total") == 1 + 7 + 1

    # Reported in the log, one line per request or batch.
    log = col.proc.output()
    assert "ingest: 1 late events for finalized invoice TLY-000001 (sub acme-1)" \
        in log, log
    assert "ingest: 8 late events for finalized invoice TLY-000001 (sub acme-1)" \
        in log, log

    # Never billed: the invoice is as it was, even when refreshed or when
    # billing runs again.
    bill(col, "2025-12-01T00:00:00Z")
    ok(col, "POST", "/invoices/%s/refresh" % inv["lago_id"])
    assert ok(col, "GET", "/invoices/" + inv["lago_id"])["invoice"] == before

    # Never dropped: the usage is stored as sent.
    assert col.rows("SELECT transaction_id, source FROM events "
                        "WHERE transaction_id IN ('late-api', 'late-agent') "
                        "ORDER BY 1") == [("late-agent", "edge-1"), ("late-api", "api")]
    assert col.rows("SELECT code, count FROM usage WHERE minute = ?",
                   nov_minute) == [("calls", 7)]
    assert col.rows("SELECT COUNT(*) FROM late_usage") == [(3,)]

    # Filter and pages.
    assert late_list(col, "?external_subscription_id=acme-1")["meta"]["total_count"] == 3
    other = late_list(col, "?external_subscription_id=nobody")
    assert other["late_usage"] == [] and other["meta"]["total_count"] == 0, other
    page = late_list(col, "?per_page=2&page=2")
    assert [r["transaction_id"] for r in page["late_usage"]] == ["late-api"], page
    assert page["meta"]["prev_page"] == 1 and page["meta"]["total_pages"] == 2, page
    assert late(col, "?per_page=0")[0] == 422

    # December, billed now, holds the December usage and none of November's.
    bill(col, "2026-01-01T00:00:00Z")
    dec = invoices(col)[-1]
    # $10 + (1 + 2) GB x $1 + 4 calls x $0.01 = 1304 cents.
    assert dec["total_amount_cents"] == 1304, dec


@s.test
def needs_the_api_key(t):
    col = Collector(t)
    assert late(col, key="wrong-key")[0] == 401
    code, body = http("GET", col.url + "/v1/late_usage")
    assert (code, body) == (401, {"status": 401, "error": "Unauthorized"}), body
    tok = col.agent_token("edge-1")
    assert late(col, key=tok)[0] == 401


@s.test
def drafts_are_not_final(t):
    # With a grace period the invoice stays draft: usage arriving then
    # is counted by its refresh, so it is not late; once finalized, it is.
    col = Collector(t, env={"TALLY_BILLING_GRACE_PERIOD": "1d"})
    setup(col)
    bill(col, "2025-12-01T00:00:00Z")
    (inv,) = invoices(col)
    assert inv["status"] == "draft", inv
    ok(col, "POST", "/events", {"event": ev("in-grace", NOV + 5 * DAY, gb="1")})
    assert late_list(col)["late_usage"] == []
    inv = ok(col, "POST", "/invoices/%s/refresh" % inv["lago_id"])["invoice"]
    ok(col, "PUT", "/invoices/%s/finalize" % inv["lago_id"])
    ok(col, "POST", "/events", {"event": ev("after", NOV + 6 * DAY, gb="1")})
    rows = late_list(col)["late_usage"]
    assert [(r["transaction_id"], r["invoice_number"]) for r in rows] == \
        [("after", "TLY-000001")], rows
    assert col.metric("tally_events_late_total") == 1


@s.test
def in_advance_bills_usage_later(t):
    # In advance, November's invoice (issued November 1st) bills no usage:
    # November's usage is billed by December's invoice, so it is late only
    # once that one is final, and then it names December's invoice.
    col = Collector(t)
    setup(col, plan="pro", advance=True)
    bill(col, "2025-11-01T12:00:00Z")
    (nov,) = invoices(col)
    assert nov["status"] == "finalized", nov
    ok(col, "POST", "/events", {"event": ev("early", NOV + 2 * DAY, gb="1")})
    assert late_list(col)["late_usage"] == []
    bill(col, "2025-12-01T12:00:00Z")
    dec = invoices(col)[-1]
    assert dec["lago_id"] != nov["lago_id"] and dec["status"] == "finalized", dec
    ok(col, "POST", "/events", {"event": ev("late", NOV + 3 * DAY, gb="1")})
    ok(col, "POST", "/events", {"event": ev("current", DEC + 3 * DAY, gb="1")})
    rows = late_list(col)["late_usage"]
    assert [(r["transaction_id"], r["lago_invoice_id"], r["invoice_number"])
            for r in rows] == [("late", dec["lago_id"], dec["number"])], rows


if __name__ == "__main__":
    s.main()
