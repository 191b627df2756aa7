"""A month of usage for several customers and plans, billed through the
real collector; every total below is worked out by hand in the comments.
Billing twice makes no duplicate; drafts refresh during the grace period
and freeze once finalized; a terminated subscription gets its final
invoice; the printable page escapes what customers typed."""
import calendar
import datetime
import json
import sqlite3

from harness import COLLECTOR, Agent, Collector, Suite, http, run, wait_until

s = Suite("invoices")


def ok(col, method, path, body=None):
    code, out = col.api(method, path, body)
    assert code == 200, (method, path, code, out)
    return out


def metric(col, code, agg, field=None, filters=None):
    body = {"name": code.title(), "code": code, "aggregation_type": agg}
    if field:
        body["field_name"] = field
    if filters:
        body["filters"] = filters
    return ok(col, "POST", "/billable_metrics", {"billable_metric": body})["billable_metric"]


def bill(col, at):
    code, out, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "bill", "--at", at],
                         env=col.env)
    assert code == 0, err


def invoices(col, customer):
    out = ok(col, "GET", "/invoices?external_customer_id=%s" % customer)
    return sorted(out["invoices"], key=lambda i: i["fees"][0]["from_date"])


def fee(inv, code, display=None):
    """The fee of a charge's slice: display is its filter values, None
    for the default slice."""
    for f in inv["fees"]:
        item = f["item"]
        if item["code"] == code and item.get("filters") == display:
            return f
    raise AssertionError("no fee %s in %s" % (code, inv["fees"]))


def setup_month(t, col):
    ok(col, "POST", "/taxes", {"tax": {"name": "VAT", "code": "vat20", "rate": "20",
                                       "applied_to_organization": True}})
    ok(col, "POST", "/taxes", {"tax": {"name": "MwSt", "code": "de19", "rate": "19"}})
    ok(col, "POST", "/customers", {"customer": {"external_id": "acme", "name": "Acme <Corp>",
                                                "currency": "USD"}})
    ok(col, "POST", "/customers", {"customer": {"external_id": "bmw", "currency": "EUR",
                                                "tax_codes": ["de19"]}})
    ok(col, "POST", "/customers", {"customer": {"external_id": "jp", "currency": "JPY"}})
    storage = metric(col, "storage", "sum_agg", "gb",
                     [{"key": "region", "values": ["eu", "us"]}])
    calls = metric(col, "calls", "count_agg")
    ok(col, "POST", "/plans", {"plan": {
        "name": "Startup", "code": "startup", "interval": "monthly", "amount_cents": 4900,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [
            {"billable_metric_id": storage["lago_id"], "charge_model": "standard",
             "properties": {"amount": "0.25"},
             "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.30"},
                          "invoice_display_name": "Storage EU"}]},
            {"billable_metric_id": calls["lago_id"], "charge_model": "graduated",
             "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 1000, "per_unit_amount": "0",
                  "flat_amount": "1"},
                 {"from_value": 1001, "to_value": None, "per_unit_amount": "0.002",
                  "flat_amount": "0"}]}}]}})
    ok(col, "POST", "/plans", {"plan": {
        "name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 10000,
        "amount_currency": "EUR", "pay_in_advance": True, "charges": [
            {"billable_metric_id": calls["lago_id"], "charge_model": "package",
             "properties": {"amount": "5", "package_size": 100, "free_units": 100}}]}})
    ok(col, "POST", "/plans", {"plan": {
        "name": "Basic", "code": "basic", "interval": "monthly", "amount_cents": 1000,
        "amount_currency": "JPY", "pay_in_advance": False, "charges": []}})
    for ext, cust, plan, at in (("acme-1", "acme", "startup", "2025-11-01T00:00:00Z"),
                                ("bmw-1", "bmw", "pro", "2025-11-01T00:00:00Z"),
                                ("jp-1", "jp", "basic", "2025-11-16T00:00:00Z")):
        ok(col, "POST", "/subscriptions", {"subscription": {
            "external_customer_id": cust, "plan_code": plan, "external_id": ext,
            "subscription_at": at}})


def ev(tx, sub, code, ts, **props):
    return {"transaction_id": tx, "external_subscription_id": sub, "code": code,
            "timestamp": ts, "properties": props}


def send_usage(t, col):
    # Storage through the API (raw events): EU 10.5 + 4.5 = 15 GB,
    # US 2.01 GB, no region 1 GB; one event in October and one in
    # December fall outside November.
    ok(col, "POST", "/events/batch", {"events": [
        ev("s1", "acme-1", "storage", "2025-11-03T10:00:00Z", gb="10.5", region="eu"),
        ev("s2", "acme-1", "storage", "2025-11-20T10:00:00Z", gb="4.5", region="eu"),
        ev("s3", "acme-1", "storage", "2025-11-21T10:00:00Z", gb="2.01", region="us"),
        ev("s4", "acme-1", "storage", "2025-11-22T10:00:00Z", gb="1"),
        ev("s5", "acme-1", "storage", "2025-10-31T23:59:59Z", gb="100", region="eu"),
        ev("s6", "acme-1", "storage", "2025-12-01T00:00:00Z", gb="100", region="eu")]})
    # Calls through an agent, pre-aggregated per minute: 1,500 for acme,
    # 201 for bmw, spread over November.
    ag = Agent(t, col)
    wait_until(lambda: "catalog version" in ag.proc.output(), what="the catalog")
    base = 1761955200      # 2025-11-01T00:00:00Z
    calls = [ev("a-%d" % i, "acme-1", "calls", base + i * 1700) for i in range(1500)]
    calls += [ev("b-%d" % i, "bmw-1", "calls", base + i * 12000) for i in range(201)]
    for i in range(0, len(calls), 500):
        code, body = ag.post(calls[i:i + 500])
        assert code == 200, body
    ag.drained()
    con = sqlite3.connect(col.db)
    assert con.execute("SELECT COUNT(*) FROM events WHERE code = 'calls'").fetchone()[0] == 0
    con.close()


@s.test
def a_month_of_usage(t):
    col = Collector(t)
    setup_month(t, col)
    send_usage(t, col)
    bill(col, "2025-12-01T00:00:00Z")

    # acme, USD, organization VAT 20%, November in arrears:
    #   subscription   $49.00 (full month)              4900
    #   storage EU     15 GB x $0.30 = $4.50             450
    #   storage other  3.01 GB x $0.25 = $0.7525          75  (rounded once)
    #   calls          1,000 in tier 1: flat $1.00
    #                  500 in tier 2 x $0.002 = $1.00    200
    #   fees 5625, VAT 20% = 1125, total 6750
    (a,) = invoices(col, "acme")
    assert fee(a, "startup")["amount_cents"] == 4900
    eu = fee(a, "storage", {"region": ["eu"]})
    assert (eu["amount_cents"], eu["units"], eu["events_count"]) == (450, "15", 2), eu
    rest = fee(a, "storage", None)
    assert (rest["amount_cents"], rest["units"], rest["precise_amount"]) == \
        (75, "3.01", "0.7525"), rest
    c = fee(a, "calls")
    assert (c["amount_cents"], c["units"], c["events_count"]) == (200, "1500", 1500), c
    assert (a["fees_amount_cents"], a["taxes_amount_cents"], a["total_amount_cents"]) == \
        (5625, 1125, 6750), a
    assert a["currency"] == "USD" and a["status"] == "finalized"
    assert a["applied_taxes"][0]["tax_code"] == "vat20"

    # bmw, EUR, its own 19%, in advance: billed when November starts and
    # when December starts.
    #   Nov: subscription 10000, no earlier usage; 19% = 1900 -> 11900
    #   Dec: subscription 10000; November's 201 calls: 101 past the 100
    #        free -> 2 packages x EUR 5 = 1000; fees 11000, 19% = 2090
    #        -> 13090
    nov, dec = invoices(col, "bmw")
    assert (nov["fees_amount_cents"], nov["taxes_amount_cents"],
            nov["total_amount_cents"]) == (10000, 1900, 11900), nov
    assert fee(dec, "calls")["amount_cents"] == 1000
    assert (dec["fees_amount_cents"], dec["taxes_amount_cents"],
            dec["total_amount_cents"]) == (11000, 2090, 13090), dec
    assert dec["applied_taxes"][0]["tax_code"] == "de19"

    # jp, JPY (no decimals), from Nov 16 on calendar billing: 15 of 30
    # days of JPY 1000 = 500; VAT 20% = 100; total 600.
    (j,) = invoices(col, "jp")
    assert (j["fees_amount_cents"], j["taxes_amount_cents"], j["total_amount_cents"]) == \
        (500, 100, 600), j

    # Numbers are sequential without gaps; billing again adds nothing.
    all_ = ok(col, "GET", "/invoices")["invoices"]
    assert sorted(i["sequential_id"] for i in all_) == [1, 2, 3, 4]
    assert sorted(i["number"] for i in all_) == ["TLY-000001", "TLY-000002",
                                                 "TLY-000003", "TLY-000004"]
    bill(col, "2025-12-01T00:00:00Z")
    bill(col, "2025-12-01T12:00:00Z")
    assert ok(col, "GET", "/invoices")["meta"]["total_count"] == 4

    # The printable page.
    code, page = http("GET", col.url + "/api/v1/invoices/%s.html" % a["lago_id"],
                      headers={"Authorization": "Bearer " + col.api_key})
    assert code == 200 and "Acme &lt;Corp&gt;" in page and "<Corp>" not in page, page
    assert "67.50 USD" in page and a["number"] in page, page
    assert "2025-11-01 &ndash; 2025-11-30" in page, page
    code, page = http("GET", col.url + "/api/v1/invoices/%s.html" % j["lago_id"],
                      headers={"Authorization": "Bearer " + col.api_key})
    assert code == 200 and "600 JPY" in page, page     # no decimals in yen
    assert col.api("GET", "/invoices/nope")[0] == 404


@s.test
def grace_period_drafts(t):
    col = Collector(t, env={"TALLY_BILLING_GRACE_PERIOD": "1d"})
    setup_month(t, col)
    bill(col, "2025-12-01T00:00:00Z")
    (j,) = invoices(col, "jp")
    assert j["status"] == "draft" and j["sequential_id"] is None, j
    # Late usage during the grace period: a refresh counts it.
    (a,) = invoices(col, "acme")
    # $49 + the first tier's $1 flat fee, charged at zero units as Lago
    # does; VAT 20%: fees 5000, total 6000.
    assert (a["fees_amount_cents"], a["total_amount_cents"]) == (5000, 6000), a
    ok(col, "POST", "/events", {"event": ev("late-1", "acme-1", "storage",
                                            "2025-11-29T00:00:00Z", gb="10",
                                            region="eu")})
    a = ok(col, "POST", "/invoices/%s/refresh" % a["lago_id"])["invoice"]
    # + 10 GB x $0.30 = 300: fees 5300, VAT 1060, total 6360
    assert (a["fees_amount_cents"], a["total_amount_cents"]) == (5300, 6360), a
    a = ok(col, "PUT", "/invoices/%s/finalize" % a["lago_id"])["invoice"]
    assert a["status"] == "finalized" and a["number"] == "TLY-000001", a
    # Finalized is immutable: later usage changes nothing.
    ok(col, "POST", "/events", {"event": ev("late-2", "acme-1", "storage",
                                            "2025-11-29T01:00:00Z", gb="10",
                                            region="eu")})
    a = ok(col, "POST", "/invoices/%s/refresh" % a["lago_id"])["invoice"]
    assert a["total_amount_cents"] == 6360
    assert ok(col, "GET", "/invoices?status=draft")["meta"]["total_count"] == 3


@s.test
def terminated_subscription_final_invoice(t):
    col = Collector(t)
    ok(col, "POST", "/customers", {"customer": {"external_id": "t", "currency": "USD"}})
    ok(col, "POST", "/plans", {"plan": {"name": "T", "code": "t", "interval": "monthly",
                                        "amount_cents": 3000, "amount_currency": "USD",
                                        "pay_in_advance": False, "charges": []}})
    today = datetime.datetime.now(datetime.timezone.utc)
    first = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "t", "plan_code": "t", "external_id": "t-1",
        "subscription_at": first.strftime("%Y-%m-%dT%H:%M:%SZ")}})
    # Nothing is due before the month ends...
    bill(col, today.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert ok(col, "GET", "/invoices")["meta"]["total_count"] == 0
    # ...but terminating closes the period today.
    ok(col, "DELETE", "/subscriptions/t-1")
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    bill(col, later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    (inv,) = invoices(col, "t")
    days = calendar.monthrange(today.year, today.month)[1]
    # 3000 x days used / days in month, rounded half-up once.
    used = today.day
    expected = (3000 * used * 2 + days) // (2 * days)
    assert inv["fees_amount_cents"] == expected, (inv["fees_amount_cents"], used, days)


@s.test
def spending_minimum_and_commitment(t):
    col = Collector(t)
    ok(col, "POST", "/customers", {"customer": {"external_id": "m", "currency": "USD"}})
    calls = metric(col, "calls", "count_agg")
    ok(col, "POST", "/plans", {"plan": {
        "name": "Floor", "code": "floor", "interval": "monthly", "amount_cents": 1000,
        "amount_currency": "USD", "pay_in_advance": False,
        "minimum_commitment": {"amount_cents": 5000},
        "charges": [{"billable_metric_id": calls["lago_id"], "charge_model": "standard",
                     "min_amount_cents": 2000, "properties": {"amount": "1"}}]}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "m", "plan_code": "floor", "external_id": "m-1",
        "subscription_at": "2025-11-16T00:00:00Z"}})
    ok(col, "POST", "/events/batch", {"events": [
        ev("m-%d" % i, "m-1", "calls", "2025-11-20T00:00:00Z") for i in range(5)]})
    bill(col, "2025-12-01T00:00:00Z")
    (inv,) = invoices(col, "m")
    by_type = {}
    for f in inv["fees"]:
        by_type.setdefault((f["item"]["type"], f["item"]["name"]), []).append(f["amount_cents"])
    # 15 of 30 days: subscription 1000 x 1/2 = 500; calls 5 x $1 = 500;
    # the $20 spending minimum prorated to 1000 adds a 500 true-up; the
    # $50 commitment prorated to 2500 exceeds 1500 of fees by 1000.
    assert by_type == {("subscription", "Floor"): [500], ("charge", "Calls"): [500],
                       ("charge", "True-up"): [500],
                       ("commitment", "Minimum commitment"): [1000]}, by_type
    assert (inv["fees_amount_cents"], inv["total_amount_cents"]) == (2500, 2500), inv


def two_plans(col):
    ok(col, "POST", "/customers", {"customer": {"external_id": "u", "currency": "EUR"}})
    for code, cents in (("small", 10000), ("big", 20000)):
        ok(col, "POST", "/plans", {"plan": {
            "name": code.title(), "code": code, "interval": "monthly",
            "amount_cents": cents, "amount_currency": "EUR", "pay_in_advance": False,
            "charges": []}})


def month_bounds():
    now = datetime.datetime.now(datetime.timezone.utc)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (first + datetime.timedelta(days=32)).replace(day=1)
    return now, first, nxt, calendar.monthrange(now.year, now.month)[1]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def half_up(n, d):
    return (2 * n + d) // (2 * d)


@s.test
def upgrade_applies_at_once(t):
    col = Collector(t)
    two_plans(col)
    now, first, nxt, days = month_bounds()
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "u", "plan_code": "small", "external_id": "u-1",
        "subscription_at": iso(first)}})
    # EUR 100 -> EUR 200 a month: an upgrade, applied now.
    sub = ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "u", "plan_code": "big", "external_id": "u-1"}})
    sub = sub["subscription"]
    assert (sub["plan_code"], sub["status"], sub["previous_plan_code"]) == \
        ("big", "active", "small"), sub
    bill(col, iso(datetime.datetime.now(datetime.timezone.utc) +
                  datetime.timedelta(seconds=2)))
    # The old plan is invoiced at once for the days before today (Lago:
    # 14/31 of EUR 100 = EUR 45.16 for a change on the 15th); today and
    # the rest of the month belong to the new plan (17/31 of EUR 200).
    (old,) = invoices(col, "u")
    assert old["fees"][0]["item"]["code"] == "small"
    assert old["fees_amount_cents"] == half_up(10000 * (now.day - 1), days), old
    bill(col, iso(nxt))
    new = [i for i in invoices(col, "u") if i["fees"][0]["item"]["code"] == "big"]
    assert len(new) == 1, new
    assert new[0]["fees_amount_cents"] == half_up(20000 * (days - now.day + 1), days)


@s.test
def downgrade_waits_for_period_end(t):
    col = Collector(t)
    two_plans(col)
    now, first, nxt, days = month_bounds()
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "u", "plan_code": "big", "external_id": "u-1",
        "subscription_at": iso(first)}})
    cur = ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "u", "plan_code": "small", "external_id": "u-1"}})
    cur = cur["subscription"]
    # Lago answers with the current subscription, which now names its next.
    assert (cur["plan_code"], cur["status"], cur["next_plan_code"]) == \
        ("big", "active", "small"), cur
    bill(col, iso(nxt))
    (inv,) = invoices(col, "u")
    # The big plan ran its whole month.
    assert inv["fees"][0]["item"]["code"] == "big" and inv["fees_amount_cents"] == 20000
    sub = ok(col, "GET", "/subscriptions/u-1")["subscription"]
    assert (sub["plan_code"], sub["status"], sub["previous_plan_code"]) == \
        ("small", "active", "big"), sub


@s.test
def pay_in_advance_charges(t):
    col = Collector(t)
    ok(col, "POST", "/customers", {"customer": {"external_id": "a", "currency": "USD"}})
    seats = metric(col, "seats", "sum_agg", "n")
    calls = metric(col, "calls", "count_agg")
    ok(col, "POST", "/plans", {"plan": {
        "name": "Adv", "code": "adv", "interval": "monthly", "amount_cents": 0,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [
            {"billable_metric_id": seats["lago_id"], "charge_model": "standard",
             "pay_in_advance": True, "invoiceable": True,
             "properties": {"amount": "10"}},
            {"billable_metric_id": calls["lago_id"], "charge_model": "graduated",
             "pay_in_advance": True, "invoiceable": True,
             "properties": {"graduated_ranges": [
                 {"from_value": 0, "to_value": 2, "per_unit_amount": "1",
                  "flat_amount": "5"},
                 {"from_value": 3, "to_value": None, "per_unit_amount": "0.5",
                  "flat_amount": "0"}]}}]}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "a", "plan_code": "adv", "external_id": "a-1",
        "subscription_at": "2025-11-01T00:00:00Z"}})
    ok(col, "POST", "/events/batch", {"events": [
        ev("s1", "a-1", "seats", "2025-11-02T00:00:00Z", n="2"),
        ev("c1", "a-1", "calls", "2025-11-02T01:00:00Z"),
        ev("c2", "a-1", "calls", "2025-11-02T02:00:00Z"),
        ev("c3", "a-1", "calls", "2025-11-02T03:00:00Z")]})
    bill(col, "2025-11-03T00:00:00Z")
    (inv,) = invoices(col, "a")
    fees = sorted((f["item"]["code"], f["amount_cents"], f["pay_in_advance"])
                  for f in inv["fees"])
    # seats: 2 x $10 = 2000.  calls, each what it adds: the first pays the
    # first tier's $5 flat fee and $1; the second $1; the third, in the
    # second tier, $0.50.
    assert fees == [("calls", 50, True), ("calls", 100, True), ("calls", 600, True),
                    ("seats", 2000, True)], fees
    assert inv["total_amount_cents"] == 2750
    # Billing again bills nothing twice; a new event is billed alone.
    bill(col, "2025-11-03T00:00:00Z")
    ok(col, "POST", "/events", {"event": ev("s2", "a-1", "seats",
                                            "2025-11-04T00:00:00Z", n="1")})
    bill(col, "2025-11-05T00:00:00Z")
    invs = ok(col, "GET", "/invoices?external_customer_id=a")["invoices"]
    assert sorted(i["total_amount_cents"] for i in invs) == [1000, 2750], invs
    # At the period's end, the arrears invoice carries no in-advance fee.
    bill(col, "2025-12-01T00:00:00Z")
    invs = ok(col, "GET", "/invoices?external_customer_id=a")["invoices"]
    assert sorted(i["total_amount_cents"] for i in invs) == [0, 1000, 2750], invs


@s.test
def pricing_group_keys_rate_each_group(t):
    col = Collector(t)
    ok(col, "POST", "/customers", {"customer": {"external_id": "g", "currency": "USD"}})
    calls = metric(col, "calls", "count_agg")
    ok(col, "POST", "/plans", {"plan": {
        "name": "G", "code": "g", "interval": "monthly", "amount_cents": 0,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [
            {"billable_metric_id": calls["lago_id"], "charge_model": "graduated",
             "properties": {"pricing_group_keys": ["region"], "graduated_ranges": [
                 {"from_value": 0, "to_value": 2, "per_unit_amount": "1",
                  "flat_amount": "0"},
                 {"from_value": 3, "to_value": None, "per_unit_amount": "0.5",
                  "flat_amount": "0"}]}}]}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "g", "plan_code": "g", "external_id": "g-1",
        "subscription_at": "2025-11-01T00:00:00Z"}})
    evs = [ev("e%d" % i, "g-1", "calls", "2025-11-05T00:00:00Z", region="eu")
           for i in range(3)]
    evs += [ev("u%d" % i, "g-1", "calls", "2025-11-05T00:00:00Z", region="us")
            for i in range(2)]
    evs += [ev("n0", "g-1", "calls", "2025-11-05T00:00:00Z")]
    ok(col, "POST", "/events/batch", {"events": evs})
    bill(col, "2025-12-01T00:00:00Z")
    (inv,) = invoices(col, "g")
    got = sorted((json.dumps(f["item"]["grouped_by"], sort_keys=True), f["units"],
                  f["amount_cents"]) for f in inv["fees"] if f["item"]["type"] == "charge")
    # Each region climbs the tiers on its own: eu 2 x $1 + 1 x $0.50;
    # us 2 x $1; the events without a region are their own group, $1.
    # Ungrouped, the 6 calls would be 2 x $1 + 4 x $0.50 = $4.00.
    assert got == [('{"region": "eu"}', "3", 250), ('{"region": "us"}', "2", 200),
                   ('{"region": null}', "1", 100)], got
    assert inv["fees_amount_cents"] == 550


@s.test
def prorated_recurring_charges(t):
    col = Collector(t)
    ok(col, "POST", "/customers", {"customer": {"external_id": "p", "currency": "USD"}})
    seats = ok(col, "POST", "/billable_metrics", {"billable_metric": {
        "name": "Seats", "code": "seats", "aggregation_type": "sum_agg",
        "field_name": "n", "recurring": True}})["billable_metric"]
    users = ok(col, "POST", "/billable_metrics", {"billable_metric": {
        "name": "Users", "code": "users", "aggregation_type": "unique_count_agg",
        "field_name": "u", "recurring": True}})["billable_metric"]
    ok(col, "POST", "/plans", {"plan": {
        "name": "P", "code": "p", "interval": "monthly", "amount_cents": 0,
        "amount_currency": "USD", "pay_in_advance": False, "charges": [
            {"billable_metric_id": m["lago_id"], "charge_model": "standard",
             "prorated": True, "properties": {"amount": "30"}}
            for m in (seats, users)]}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "p", "plan_code": "p", "external_id": "p-1",
        "subscription_at": "2025-10-01T00:00:00Z"}})
    ok(col, "POST", "/events/batch", {"events": [
        ev("s1", "p-1", "seats", "2025-10-20T08:00:00Z", n="2"),
        ev("s2", "p-1", "seats", "2025-11-16T08:00:00Z", n="1"),
        ev("u1", "p-1", "users", "2025-11-01T08:00:00Z", u="ann"),
        ev("u2", "p-1", "users", "2025-11-11T08:00:00Z", u="bob"),
        ev("u3", "p-1", "users", "2025-11-21T08:00:00Z", u="ann",
           operation_type="remove")]})
    bill(col, "2025-12-01T00:00:00Z")
    oct_, nov = invoices(col, "p")
    # October: 2 seats from the 20th, 12 of 31 days: 0.77419... ceil(5)
    # = 0.7742 units x $30 = $23.226 -> 2323.
    seats_oct = fee(oct_, "seats")
    assert (seats_oct["units"], seats_oct["amount_cents"]) == ("0.7742", 2323), seats_oct
    # November: the 2 carried seats count in full, the 3rd from the 16th
    # for 15 of 30 days: 2.5 units x $30 = 7500.
    seats_nov = fee(nov, "seats")
    assert (seats_nov["units"], seats_nov["amount_cents"]) == ("2.5", 7500), seats_nov
    # Users: ann 1st to 20th and bob 11th to 30th, 20 days each: 40/30 =
    # 1.33334 (ceil 5) x $30 = $40.0002 -> 4000.
    users_nov = fee(nov, "users")
    assert (users_nov["units"], users_nov["amount_cents"]) == ("1.33334", 4000), users_nov


@s.test
def coupons_before_taxes(t):
    col = Collector(t)
    ok(col, "POST", "/taxes", {"tax": {"name": "VAT", "code": "vat20", "rate": "20",
                                       "applied_to_organization": True}})
    ok(col, "POST", "/customers", {"customer": {"external_id": "c", "currency": "USD"}})
    ok(col, "POST", "/plans", {"plan": {
        "name": "C", "code": "c", "interval": "monthly", "amount_cents": 10000,
        "amount_currency": "USD", "pay_in_advance": False, "charges": []}})
    ok(col, "POST", "/coupons", {"coupon": {
        "name": "Ten off", "code": "ten", "coupon_type": "fixed_amount",
        "amount_cents": 1000, "amount_currency": "USD", "frequency": "once",
        "expiration": "no_expiration"}})
    ok(col, "POST", "/coupons", {"coupon": {
        "name": "Tenth", "code": "tenth", "coupon_type": "percentage",
        "percentage_rate": "10", "frequency": "recurring", "frequency_duration": 2,
        "expiration": "no_expiration"}})
    for code in ("ten", "tenth"):
        ok(col, "POST", "/applied_coupons", {"applied_coupon": {
            "external_customer_id": "c", "coupon_code": code}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "c", "plan_code": "c", "external_id": "c-1",
        "subscription_at": "2025-11-01T00:00:00Z"}})
    for at in ("2025-12-01", "2026-01-01", "2026-02-01"):
        bill(col, at + "T00:00:00Z")
    nov, dec, jan = invoices(col, "c")
    # November: $10 off first (the older coupon), then 10% of the $90
    # left: coupons 1900; VAT 20% on 8100 = 1620; total 9720.
    assert (nov["coupons_amount_cents"], nov["sub_total_excluding_taxes_amount_cents"],
            nov["taxes_amount_cents"], nov["total_amount_cents"]) == \
        (1900, 8100, 1620, 9720), nov
    assert sorted((c["item"]["code"], c["amount_cents"]) for c in nov["credits"]) == \
        [("ten", 1000), ("tenth", 900)], nov["credits"]
    # December: the once coupon is used up; 10% of 10000 for the 2nd time.
    assert (dec["coupons_amount_cents"], dec["total_amount_cents"]) == (1000, 10800), dec
    # January: both are done.
    assert (jan["coupons_amount_cents"], jan["total_amount_cents"]) == (0, 12000), jan


@s.test
def commitment_in_advance_and_uninvoiceable(t):
    col = Collector(t)
    ok(col, "POST", "/customers", {"customer": {"external_id": "v", "currency": "USD"}})
    calls = metric(col, "calls", "count_agg")
    seats = metric(col, "seats", "sum_agg", "n")
    ok(col, "POST", "/plans", {"plan": {
        "name": "V", "code": "v", "interval": "monthly", "amount_cents": 1000,
        "amount_currency": "USD", "pay_in_advance": True,
        "minimum_commitment": {"amount_cents": 5000},
        "charges": [
            {"billable_metric_id": calls["lago_id"], "charge_model": "standard",
             "properties": {"amount": "1"}},
            {"billable_metric_id": seats["lago_id"], "charge_model": "standard",
             "pay_in_advance": True, "invoiceable": False,
             "properties": {"amount": "7"}}]}})
    ok(col, "POST", "/subscriptions", {"subscription": {
        "external_customer_id": "v", "plan_code": "v", "external_id": "v-1",
        "subscription_at": "2025-11-01T00:00:00Z"}})
    ok(col, "POST", "/events/batch", {"events": [
        ev("c%d" % i, "v-1", "calls", "2025-11-10T00:00:00Z") for i in range(5)] + [
        ev("s1", "v-1", "seats", "2025-11-10T00:00:00Z", n="3")]})
    bill(col, "2025-12-01T00:00:00Z")
    nov, dec = invoices(col, "v")
    # November, in advance: its fee alone (seats are not invoiceable).
    assert nov["fees_amount_cents"] == 1000, nov
    # December: its fee, November's 5 calls, and November's commitment:
    # 5000 - (1000 + 500) = 3500.
    kinds = sorted((f["item"]["type"], f["amount_cents"]) for f in dec["fees"])
    assert kinds == [("charge", 500), ("commitment", 3500), ("subscription", 1000)], kinds
    assert ok(col, "GET", "/invoices")["meta"]["total_count"] == 2


if __name__ == "__main__":
    s.main()
