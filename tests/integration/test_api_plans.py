"""/api/v1/plans against a real collector: every charge model created and
read back in Lago's key order, each validation code on its field, the
billable-metric 404, list and meta, update, delete, and what the agents'
catalog learns from the charges."""
from harness import Collector, Suite, http

s = Suite("api_plans")

PLAN_KEYS = [
    "lago_id", "name", "invoice_display_name", "created_at", "code",
    "interval", "description", "amount_cents", "amount_currency",
    "trial_period", "pay_in_advance", "bill_charges_monthly",
    "customers_count", "active_subscriptions_count", "draft_invoices_count",
    "parent_id", "charges", "usage_thresholds", "taxes"]

CHARGE_KEYS = [
    "lago_id", "lago_billable_metric_id", "invoice_display_name",
    "billable_metric_code", "created_at", "charge_model", "invoiceable",
    "regroup_paid_fees", "pay_in_advance", "prorated", "min_amount_cents",
    "properties", "filters", "taxes"]

COMMITMENT_KEYS = [
    "lago_id", "plan_code", "invoice_display_name", "amount_cents",
    "interval", "created_at", "updated_at", "taxes"]


def rng(frm, to, **amounts):
    r = {"from_value": frm, "to_value": to}
    r.update(amounts)
    return r


# A valid charge of each model, as Lago's docs write them.
MODELS = {
    "standard": {"amount": "0.25"},
    "package": {"amount": "5", "package_size": 100, "free_units": 10},
    "percentage": {"rate": "1.5", "fixed_amount": "0.1",
                   "free_units_per_events": 3,
                   "free_units_per_total_aggregation": "50"},
    "graduated": {"graduated_ranges": [
        rng(0, 10, per_unit_amount="1", flat_amount="0"),
        rng(11, None, per_unit_amount="0.5", flat_amount="2")]},
    "volume": {"volume_ranges": [
        rng(0, 100, per_unit_amount="2", flat_amount="1"),
        rng(101, None, per_unit_amount="1", flat_amount="0")]},
    "graduated_percentage": {"graduated_percentage_ranges": [
        rng(0, 10, rate="1", flat_amount="0"),
        rng(11, None, rate="0.5", flat_amount="1")]},
}


def ok(res, status=200):
    code, body = res
    assert code == status, (code, body)
    return body


def metric(col, code, agg="count_agg", field=None, recurring=False,
           filters=None):
    bm = {"name": code.title(), "code": code, "aggregation_type": agg,
          "recurring": recurring, "filters": filters or []}
    if field:
        bm["field_name"] = field
    return ok(col.api("POST", "/billable_metrics",
                      {"billable_metric": bm}))["billable_metric"]["lago_id"]


def plan(code="basic", charges=(), **kw):
    p = {"name": "Basic", "code": code, "interval": "monthly",
         "amount_cents": 1000, "amount_currency": "EUR",
         "pay_in_advance": False, "charges": list(charges)}
    p.update(kw)
    return {"plan": p}


def charge(bm_id, model="standard", props=None, **kw):
    c = {"billable_metric_id": bm_id, "charge_model": model,
         "properties": MODELS[model] if props is None else props}
    c.update(kw)
    return c


def errors(col, body, method="POST", path="/plans"):
    code, out = col.api(method, path, body)
    assert code == 422, (code, out)
    assert out["code"] == "validation_errors", out
    return out["error_details"]


@s.test
def each_model_read_back_in_order(t):
    col = Collector(t)
    bm = metric(col, "calls", agg="sum_agg", field="n")
    for model, props in MODELS.items():
        out = ok(col.api("POST", "/plans", plan(
            "p_" + model, [charge(bm, model, invoice_display_name="X")])))
        p = out["plan"]
        assert list(p) == PLAN_KEYS, list(p)
        ch = p["charges"][0]
        assert list(ch) == CHARGE_KEYS, list(ch)
        assert ch["lago_billable_metric_id"] == bm
        assert ch["billable_metric_code"] == "calls"
        assert ch["charge_model"] == model
        assert ch["invoice_display_name"] == "X"
        assert (ch["invoiceable"], ch["regroup_paid_fees"],
                ch["pay_in_advance"], ch["prorated"],
                ch["min_amount_cents"]) == (True, None, False, False, 0)
        assert ch["properties"] == props, ch["properties"]
        assert list(ch["properties"]) == list(props)
        assert ch["filters"] == [] and ch["taxes"] == []
        assert ok(col.api("GET", "/plans/p_" + model)) == out


@s.test
def plan_attributes(t):
    col = Collector(t)
    p = ok(col.api("POST", "/plans", plan(
        "gold", name="Gold", invoice_display_name="Gold plan",
        description="d", interval="yearly", amount_cents=12000,
        amount_currency="USD", trial_period=14, pay_in_advance=True,
        minimum_commitment={"amount_cents": 5000,
                            "invoice_display_name": "Min"})))["plan"]
    assert len(p["lago_id"]) == 36 and p["created_at"].endswith("Z")
    want = {"name": "Gold", "invoice_display_name": "Gold plan",
            "code": "gold", "interval": "yearly", "description": "d",
            "amount_cents": 12000, "amount_currency": "USD",
            "trial_period": 14.0, "pay_in_advance": True,
            "bill_charges_monthly": False, "customers_count": 0,
            "active_subscriptions_count": 0, "draft_invoices_count": 0,
            "parent_id": None, "charges": [], "usage_thresholds": [],
            "taxes": []}
    for k, v in want.items():
        assert p[k] == v, (k, p[k])
    assert list(p) == PLAN_KEYS + ["minimum_commitment"], list(p)
    mc = p["minimum_commitment"]
    assert list(mc) == COMMITMENT_KEYS, list(mc)
    assert (mc["plan_code"], mc["amount_cents"], mc["interval"],
            mc["invoice_display_name"]) == ("gold", 5000, "yearly", "Min")
    # bill_charges_monthly only means something for long intervals.
    p = ok(col.api("POST", "/plans", plan(
        "m", bill_charges_monthly=True)))["plan"]
    assert p["bill_charges_monthly"] is None and p["trial_period"] is None
    p = ok(col.api("POST", "/plans", plan(
        "s", interval="semiannual", bill_charges_monthly=True)))["plan"]
    assert p["bill_charges_monthly"] is True


@s.test
def plan_validation(t):
    col = Collector(t)
    ok(col.api("POST", "/plans", plan("taken")))
    assert errors(col, {"plan": {}}) == {
        "name": ["value_is_mandatory"], "code": ["value_is_mandatory"],
        "interval": ["value_is_mandatory"],
        "amount_cents": ["value_is_mandatory"],
        "amount_currency": ["value_is_mandatory"],
        "pay_in_advance": ["value_is_invalid"]}
    cases = [
        ({"code": "taken"}, "code", "value_already_exist"),
        ({"interval": "daily"}, "interval", "value_is_invalid"),
        ({"amount_currency": "XYZ"}, "amount_currency", "value_is_invalid"),
        ({"amount_cents": -1}, "amount_cents", "value_is_out_of_range"),
        ({"amount_cents": 1.5}, "amount_cents", "invalid_value"),
        ({"pay_in_advance": "yes"}, "pay_in_advance", "value_is_invalid"),
        ({"trial_period": -1}, "trial_period", "value_is_out_of_range"),
        ({"name": ""}, "name", "value_is_mandatory"),
        ({"charges": {}}, "charges", "invalid_value"),
        ({"minimum_commitment": {"amount_cents": -5}}, "amount_cents",
         "value_is_out_of_range"),
    ]
    for change, field, code in cases:
        body = plan("new")
        body["plan"].update(change)
        assert errors(col, body) == {field: [code]}, change
    assert ok(col.api("GET", "/plans"))["meta"]["total_count"] == 1


# (model, properties, Lago's code under "properties")
BAD_PROPS = [
    ("standard", {"amount": 10}, "invalid_amount"),
    ("standard", {"amount": "-1"}, "invalid_amount"),
    ("standard", {"amount": "ten"}, "invalid_amount"),
    ("package", {"amount": "1", "package_size": 0, "free_units": 0},
     "invalid_package_size"),
    ("package", {"amount": "1", "package_size": 10, "free_units": -1},
     "invalid_free_units"),
    ("percentage", {"rate": 5}, "invalid_rate"),
    ("percentage", {"rate": "5", "fixed_amount": "-1"},
     "invalid_fixed_amount"),
    ("percentage", {"rate": "5", "free_units_per_events": 0},
     "invalid_free_units_per_events"),
    ("percentage", {"rate": "5", "free_units_per_total_aggregation": 3},
     "invalid_free_units_per_total_aggregation"),
    ("percentage", {"rate": "5", "per_transaction_min_amount": 1},
     "invalid_amount"),
    ("percentage", {"rate": "5", "per_transaction_min_amount": "3",
                    "per_transaction_max_amount": "2"},
     "per_transaction_max_lower_than_per_transaction_min"),
    ("graduated", {"graduated_ranges": []}, "missing_graduated_ranges"),
    ("graduated", {"graduated_ranges": [
        rng(1, None, per_unit_amount="1", flat_amount="0")]},
     "invalid_graduated_ranges"),
    ("graduated", {"graduated_ranges": [
        rng(0, 10, per_unit_amount="1", flat_amount="0"),
        rng(12, None, per_unit_amount="1", flat_amount="0")]},
     "invalid_graduated_ranges"),
    ("graduated", {"graduated_ranges": [
        rng(0, 10, per_unit_amount="1", flat_amount="0")]},
     "invalid_graduated_ranges"),
    ("graduated", {"graduated_ranges": [
        rng(0, None, per_unit_amount=1, flat_amount="0")]},
     "invalid_amount"),
    ("volume", {"volume_ranges": []}, "missing_volume_ranges"),
    ("volume", {"volume_ranges": [
        rng(0, 10, per_unit_amount="1", flat_amount="0"),
        rng(10, None, per_unit_amount="1", flat_amount="0")]},
     "invalid_volume_ranges"),
    ("volume", {"volume_ranges": [
        rng(0, None, per_unit_amount="1", flat_amount=None)]},
     "invalid_amount"),
    ("graduated_percentage", {"graduated_percentage_ranges": []},
     "missing_graduated_percentage_ranges"),
    ("graduated_percentage", {"graduated_percentage_ranges": [
        rng(0, 5, rate="1", flat_amount="0")]},
     "invalid_graduated_percentage_ranges"),
    ("graduated_percentage", {"graduated_percentage_ranges": [
        rng(0, None, rate="x", flat_amount="0")]}, "invalid_rate"),
    ("graduated_percentage", {"graduated_percentage_ranges": [
        rng(0, None, rate="1", flat_amount=0)]}, "invalid_amount"),
    ("standard", {"amount": "1", "pricing_group_keys": "region"},
     "invalid_type"),
    ("standard", {"amount": "1", "grouped_by": ["ok", ""]}, "invalid_type"),
]


@s.test
def property_validation(t):
    col = Collector(t)
    bm = metric(col, "calls", agg="sum_agg", field="n")
    for model, props, code in BAD_PROPS:
        got = errors(col, plan("p", [charge(bm, model, props)]))
        assert got == {"properties": [code]}, (model, props, got)
    # Several codes at once, in Lago's order.
    got = errors(col, plan("p", [charge(bm, "package", {"amount": 1})]))
    assert got == {"properties": ["invalid_amount", "invalid_free_units",
                                  "invalid_package_size"]}, got
    # Missing or empty properties take Lago's defaults.
    p = ok(col.api("POST", "/plans", plan("p", [
        {"billable_metric_id": bm, "charge_model": "graduated"},
        charge(bm, "package", {})])))["plan"]
    assert p["charges"][0]["properties"] == {"graduated_ranges": [
        rng(0, None, per_unit_amount="0", flat_amount="0")]}
    assert p["charges"][1]["properties"] == {
        "package_size": 1, "amount": "0", "free_units": 0}
    assert ok(col.api("GET", "/plans"))["meta"]["total_count"] == 1


@s.test
def charge_options(t):
    col = Collector(t)
    calls = metric(col, "calls")
    peak = metric(col, "peak", agg="max_agg", field="n")
    seats = metric(col, "seats", agg="unique_count_agg", field="user",
                   recurring=True)
    last = metric(col, "last", agg="latest_agg", field="n")
    cases = [
        (charge(peak, pay_in_advance=True), "pay_in_advance",
         "invalid_aggregation_type_or_charge_model"),
        (charge(calls, "volume", pay_in_advance=True), "pay_in_advance",
         "invalid_aggregation_type_or_charge_model"),
        (charge(calls, invoiceable=False), "invoiceable",
         "must_be_true_unless_pay_in_advance"),
        (charge(calls, pay_in_advance=True, min_amount_cents=100),
         "min_amount_cents", "not_compatible_with_pay_in_advance"),
        (charge(calls, min_amount_cents=-1), "min_amount_cents",
         "value_is_out_of_range"),
        (charge(calls, prorated=True), "prorated",
         "invalid_billable_metric_or_charge_model"),
        (charge(seats, "package", prorated=True), "prorated",
         "invalid_billable_metric_or_charge_model"),
        (charge(seats, "graduated", prorated=True, pay_in_advance=True),
         "prorated", "invalid_billable_metric_or_charge_model"),
        (charge(calls, regroup_paid_fees="invoice"), "regroup_paid_fees",
         "only_compatible_with_pay_in_advance_and_non_invoiceable"),
        (charge(calls, regroup_paid_fees="weekly"), "regroup_paid_fees",
         "value_is_invalid"),
        (dict(charge(calls), charge_model="dynamic"),
         "charge_model", "value_is_invalid"),
        ({"billable_metric_id": calls}, "charge_model",
         "value_is_mandatory"),
        (charge(calls, pay_in_advance="yes"), "pay_in_advance",
         "invalid_value"),
        (charge(last, "percentage"), "properties", "invalid_value"),
    ]
    for ch, field, code in cases:
        got = errors(col, plan("p", [ch]))
        assert got == {field: [code]}, (ch, got)
    # What is allowed.
    p = ok(col.api("POST", "/plans", plan("p", [
        charge(seats, "standard", prorated=True, pay_in_advance=True),
        charge(seats, "volume", prorated=True),
        charge(calls, pay_in_advance=True, invoiceable=False,
               regroup_paid_fees="invoice", invoice_display_name="Calls"),
        charge(peak, "graduated", min_amount_cents=500)])))["plan"]
    got = [(c["charge_model"], c["pay_in_advance"], c["prorated"],
            c["invoiceable"], c["regroup_paid_fees"], c["min_amount_cents"])
           for c in p["charges"]]
    assert got == [("standard", True, True, True, None, 0),
                   ("volume", False, True, True, None, 0),
                   ("standard", True, False, False, "invoice", 0),
                   ("graduated", False, False, True, None, 500)], got
    # The first failing charge is the one reported.
    got = errors(col, plan("q", [charge(calls),
                                 charge(calls, "package", {"amount": 1}),
                                 charge(calls, invoiceable=False)]))
    assert set(got) == {"properties"}, got


@s.test
def charge_filters(t):
    col = Collector(t)
    bm = metric(col, "calls", filters=[
        {"key": "region", "values": ["eu", "us"]},
        {"key": "tier", "values": ["free", "pro"]}])
    f = {"invoice_display_name": "EU pro",
         "properties": {"amount": "2"},
         "values": {"region": ["eu"], "tier": ["pro"]}}
    every = {"properties": {"amount": "1"},
             "values": {"region": ["__ALL_FILTER_VALUES__"]}}
    ch = ok(col.api("POST", "/plans", plan("p", [
        charge(bm, filters=[f, every])])))["plan"]["charges"][0]
    assert ch["filters"] == [f, dict(every, invoice_display_name=None)]
    assert list(ch["filters"][0]) == ["invoice_display_name", "properties",
                                      "values"]
    cases = [
        ({"values": {"country": ["fr"]}, "properties": {"amount": "1"}},
         "values", "value_is_invalid"),
        ({"values": {"region": ["asia"]}, "properties": {"amount": "1"}},
         "values", "value_is_invalid"),
        ({"values": {"region": []}, "properties": {"amount": "1"}},
         "values", "value_is_invalid"),
        ({"values": {}, "properties": {"amount": "1"}},
         "values", "value_is_mandatory"),
        ({"values": {"region": ["eu"]}, "properties": {"amount": 1}},
         "properties", "invalid_amount"),
        ("eu", "filters", "invalid_value"),
    ]
    for flt, field, code in cases:
        got = errors(col, plan("q", [charge(bm, filters=[flt])]))
        assert got == {field: [code]}, (flt, got)


@s.test
def unknown_metric(t):
    col = Collector(t)
    bm = metric(col, "calls")
    for ch in ({"billable_metric_id": "00000000-0000-0000-0000-000000000000",
                "charge_model": "standard"},
               {"billable_metric_code": "nope", "charge_model": "standard"},
               {"charge_model": "standard"}):
        code, out = col.api("POST", "/plans", plan("p", [charge(bm), ch]))
        assert (code, out) == (404, {"status": 404, "error": "Not Found",
                                     "code": "billable_metrics_not_found"})
    # The metric is checked before the plan's own attributes (as Lago).
    code, out = col.api("POST", "/plans", {"plan": {"charges": [
        {"billable_metric_id": "x", "charge_model": "standard"}]}})
    assert code == 404, out
    # A deleted metric is unknown too.
    ok(col.api("DELETE", "/billable_metrics/calls"))
    assert col.api("POST", "/plans", plan("p", [charge(bm)]))[0] == 404
    # billable_metric_code is accepted as a Tally convenience.
    metric(col, "calls2")
    p = ok(col.api("POST", "/plans", plan("p", [
        {"billable_metric_code": "calls2", "charge_model": "standard",
         "properties": {"amount": "1"}}])))["plan"]
    assert p["charges"][0]["billable_metric_code"] == "calls2"
    assert ok(col.api("GET", "/plans"))["meta"]["total_count"] == 1


@s.test
def list_and_meta(t):
    col = Collector(t)
    for i in range(3):
        ok(col.api("POST", "/plans", plan("p%d" % i)))
    out = ok(col.api("GET", "/plans?per_page=2"))
    assert list(out) == ["plans", "meta"]
    assert len(out["plans"]) == 2 and list(out["plans"][0]) == PLAN_KEYS
    assert out["meta"] == {"current_page": 1, "next_page": 2,
                           "prev_page": None, "total_pages": 2,
                           "total_count": 3}
    last = ok(col.api("GET", "/plans?per_page=2&page=2"))
    assert len(last["plans"]) == 1
    assert last["meta"]["prev_page"] == 1 and last["meta"]["next_page"] is None
    codes = {p["code"] for p in out["plans"] + last["plans"]}
    assert codes == {"p0", "p1", "p2"}
    assert ok(col.api("GET", "/plans?page=5"))["meta"]["current_page"] == 0
    assert col.api("GET", "/plans?page=0")[0] == 422


@s.test
def update(t):
    col = Collector(t)
    bm = metric(col, "calls")
    p = ok(col.api("POST", "/plans", plan(
        "p", [charge(bm), charge(bm, "package")], description="old",
        minimum_commitment={"amount_cents": 10})))["plan"]
    keep, drop = p["charges"]
    out = ok(col.api("PUT", "/plans/p", {"plan": {
        "name": "Renamed", "interval": "yearly", "charges": [
            charge(bm, "percentage", id=keep["lago_id"]),
            charge(bm, "volume", id="not-a-charge")]}}))["plan"]
    assert out["lago_id"] == p["lago_id"]
    assert out["created_at"] == p["created_at"]
    assert (out["name"], out["interval"], out["description"],
            out["amount_cents"], out["bill_charges_monthly"]) == \
        ("Renamed", "yearly", "old", 1000, False)
    a, b = out["charges"]
    assert (a["lago_id"], a["charge_model"]) == (keep["lago_id"], "percentage")
    assert b["lago_id"] not in (keep["lago_id"], drop["lago_id"])
    assert out["minimum_commitment"]["lago_id"] == \
        p["minimum_commitment"]["lago_id"]
    assert out["minimum_commitment"]["interval"] == "yearly"
    assert ok(col.api("GET", "/plans/p"))["plan"] == out
    # Without "charges" the charges stay; a new code renames the plan.
    out2 = ok(col.api("PUT", "/plans/p", {"plan": {"code": "p2"}}))["plan"]
    assert out2["charges"] == out["charges"] and out2["code"] == "p2"
    assert col.api("GET", "/plans/p")[0] == 404
    ok(col.api("POST", "/plans", plan("other")))
    assert errors(col, {"plan": {"code": "other"}}, "PUT", "/plans/p2") == \
        {"code": ["value_already_exist"]}
    bad = charge(bm, "standard", {"amount": 1})
    assert errors(col, {"plan": {"charges": [bad]}},
                  "PUT", "/plans/p2") == {"properties": ["invalid_amount"]}
    assert ok(col.api("GET", "/plans/p2"))["plan"] == out2
    # Empty charges remove them all; an unknown plan is a 404.
    assert ok(col.api("PUT", "/plans/p2",
                      {"plan": {"charges": []}}))["plan"]["charges"] == []
    code, body = col.api("PUT", "/plans/nope", {"plan": {"name": "x"}})
    assert (code, body["code"]) == (404, "plan_not_found")


@s.test
def delete(t):
    col = Collector(t)
    bm = metric(col, "calls")
    p = ok(col.api("POST", "/plans", plan("p", [charge(bm)])))
    assert ok(col.api("DELETE", "/plans/p")) == p
    code, body = col.api("GET", "/plans/p")
    assert (code, body) == (404, {"status": 404, "error": "Not Found",
                                  "code": "plan_not_found"})
    assert col.api("DELETE", "/plans/p")[0] == 404
    assert ok(col.api("GET", "/plans"))["plans"] == []
    # The code is free again.
    p2 = ok(col.api("POST", "/plans", plan("p")))["plan"]
    assert p2["lago_id"] != p["plan"]["lago_id"]


@s.test
def auth_and_body(t):
    col = Collector(t)
    for method, path in (("POST", "/plans"), ("GET", "/plans"),
                         ("GET", "/plans/p"), ("PUT", "/plans/p"),
                         ("DELETE", "/plans/p")):
        code, body = col.api(method, path, plan("p"), key="wrong")
        assert (code, body) == (401, {"status": 401,
                                      "error": "Unauthorized"}), path
    code, body = col.api("POST", "/plans", {"name": "x"})
    assert (code, body) == (400, {
        "status": 400, "error": "BadRequest: param is missing or the value "
        "is empty or invalid: plan"}), body
    assert col.api("PUT", "/plans/p", {"plan": "x"})[0] == 400
    assert col.api("POST", "/plans", raw=b"{")[0] == 400


def catalog(col, token):
    code, body = http("GET", col.url + "/v1/catalog",
                      headers={"Authorization": "Bearer " + token})
    assert code == 200, body
    return body


@s.test
def catalog_learns_from_charges(t):
    col = Collector(t)
    token = col.agent_token("a1")
    calls = metric(col, "calls", filters=[
        {"key": "region", "values": ["eu", "us"]}])
    bytes_ = metric(col, "bytes", agg="sum_agg", field="size")
    rows = metric(col, "rows", agg="sum_agg", field="n")
    v0 = catalog(col, token)["version"]
    ok(col.api("POST", "/plans", plan("p", [
        charge(calls, props={"amount": "1", "pricing_group_keys": ["tier"]},
               filters=[{"values": {"region": ["eu"]},
                         "properties": {"amount": "2"}}]),
        charge(bytes_, "percentage"),
        charge(rows, "standard", props={"amount": "1",
                                         "grouped_by": ["db"]})])))
    cat = catalog(col, token)
    assert cat["version"] > v0
    m = {e["code"]: e for e in cat["metrics"]}
    assert (m["calls"]["raw"], m["bytes"]["raw"], m["rows"]["raw"]) == \
        (False, True, False)
    assert m["calls"]["filter_keys"] == ["region", "tier"], m["calls"]
    assert m["rows"]["filter_keys"] == ["db"]
    v1 = cat["version"]
    ok(col.api("PUT", "/plans/p", {"plan": {"charges": [
        charge(rows, pay_in_advance=True)]}}))
    cat = catalog(col, token)
    m = {e["code"]: e for e in cat["metrics"]}
    assert cat["version"] > v1
    assert (m["calls"]["raw"], m["bytes"]["raw"], m["rows"]["raw"]) == \
        (False, False, True)
    assert m["calls"]["filter_keys"] == ["region"]
    v2 = cat["version"]
    ok(col.api("DELETE", "/plans/p"))
    cat = catalog(col, token)
    assert cat["version"] > v2
    assert not any(e["raw"] for e in cat["metrics"])


if __name__ == "__main__":
    s.main()
