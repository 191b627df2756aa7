"""Lago's coupons against a real collector: /api/v1/coupons (create, get,
list, update, delete) and /api/v1/applied_coupons (apply, list), and
DELETE /customers/:external_id/applied_coupons/:id, with Lago's key
orders, validation codes, limitations, expiry and persistence."""
import datetime
import time

from harness import Collector, Suite

s = Suite("api_coupons")

COUPON_KEYS = [
    "lago_id", "name", "code", "description", "coupon_type", "amount_cents",
    "amount_currency", "percentage_rate", "frequency", "frequency_duration",
    "reusable", "limited_plans", "limited_billable_metrics", "plan_codes",
    "billable_metric_codes", "created_at", "expiration", "expiration_at",
    "terminated_at"]

APPLIED_KEYS = [
    "lago_id", "lago_coupon_id", "coupon_code", "coupon_name",
    "coupon_description", "coupon_status", "coupon_deleted_at",
    "lago_customer_id", "external_customer_id", "status", "amount_cents",
    "amount_cents_remaining", "amount_currency", "percentage_rate",
    "frequency", "frequency_duration", "frequency_duration_remaining",
    "expiration_at", "created_at", "terminated_at"]


def fixed(code="off5", **kw):
    c = {"name": "Five off", "code": code, "coupon_type": "fixed_amount",
         "amount_cents": 500, "amount_currency": "EUR", "frequency": "once",
         "expiration": "no_expiration"}
    c.update(kw)
    return {"coupon": c}


def percent(code="ten", **kw):
    c = {"name": "Ten percent", "code": code, "coupon_type": "percentage",
         "percentage_rate": "10", "frequency": "recurring",
         "frequency_duration": 3, "expiration": "no_expiration"}
    c.update(kw)
    return {"coupon": c}


def ok(res, status=200):
    code, body = res
    assert code == status, (code, body)
    return body


def create(c, body):
    return ok(c.api("POST", "/coupons", body))["coupon"]


def errors(c, method, path, body):
    st, b = c.api(method, path, body)
    assert st == 422, (st, b)
    assert b["status"] == 422 and b["error"] == "Unprocessable Entity", b
    assert b["code"] == "validation_errors", b
    return b["error_details"]


def customer(c, ext="cus_1", **kw):
    cu = {"external_id": ext}
    cu.update(kw)
    return ok(c.api("POST", "/customers", {"customer": cu}))["customer"]


def apply(c, code, ext="cus_1", **kw):
    a = {"external_customer_id": ext, "coupon_code": code}
    a.update(kw)
    return c.api("POST", "/applied_coupons", {"applied_coupon": a})


def metric(c, code):
    bm = {"name": code, "code": code, "aggregation_type": "count_agg"}
    return ok(c.api("POST", "/billable_metrics",
                    {"billable_metric": bm}))["billable_metric"]["lago_id"]


def plan(c, code, bm_ids=()):
    p = {"name": code, "code": code, "interval": "monthly",
         "amount_cents": 1000, "amount_currency": "EUR",
         "pay_in_advance": False,
         "charges": [{"billable_metric_id": b, "charge_model": "standard",
                      "properties": {"amount": "1"}} for b in bm_ids]}
    return ok(c.api("POST", "/plans", {"plan": p}))["plan"]


def today(days=0):
    d = datetime.datetime.now(datetime.timezone.utc).date()
    return (d + datetime.timedelta(days=days)).isoformat()


# ---- Coupons -------------------------------------------------------------


@s.test
def create_fixed_and_percentage(t):
    c = Collector(t)
    x = create(c, fixed(description="Launch", reusable=False,
                        expiration="time_limit",
                        expiration_at="2099-08-08T23:59:59Z"))
    assert list(x) == COUPON_KEYS, list(x)
    assert len(x["lago_id"]) == 36, x
    assert (x["name"], x["code"], x["description"], x["coupon_type"],
            x["amount_cents"], x["amount_currency"], x["percentage_rate"],
            x["frequency"], x["frequency_duration"], x["reusable"]) == (
        "Five off", "off5", "Launch", "fixed_amount", 500, "EUR", None,
        "once", None, False), x
    assert (x["limited_plans"], x["limited_billable_metrics"],
            x["plan_codes"], x["billable_metric_codes"]) == (
        False, False, [], []), x
    assert x["expiration"] == "time_limit", x
    assert x["expiration_at"] == "2099-08-08T23:59:59Z", x
    assert x["terminated_at"] is None, x
    assert time.strptime(x["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    y = create(c, percent())
    assert (y["coupon_type"], y["percentage_rate"], y["amount_cents"],
            y["frequency"], y["frequency_duration"], y["reusable"]) == (
        "percentage", "10.0", None, "recurring", 3, True), y
    # BigDecimal's text of numeric(10,5): no trailing zeros, 5 places.
    for i, (given, shown) in enumerate((
            ("12.50", "12.5"), (5.55, "5.55"), ("0.123456", "0.12346"),
            (7, "7.0"), ("1e1", "10.0"), ("99999.99999", "99999.99999"))):
        z = create(c, percent("p%d" % i, percentage_rate=given))
        assert z["percentage_rate"] == shown, (given, z)
    # A date alone is its midnight, UTC.
    z = create(c, fixed("dated", expiration="time_limit",
                        expiration_at="2099-01-02"))
    assert z["expiration_at"] == "2099-01-02T00:00:00Z", z


@s.test
def create_validations(t):
    c = Collector(t)
    create(c, fixed())
    st, b = c.api("POST", "/coupons", {"nope": {}})
    assert st == 400 and b["error"].startswith("BadRequest"), (st, b)
    e = errors(c, "POST", "/coupons", {"coupon": {}})
    assert e == {"expiration": ["value_is_invalid"],
                 "coupon_type": ["value_is_invalid"],
                 "frequency": ["value_is_invalid"],
                 "name": ["value_is_mandatory"]}, e
    e = errors(c, "POST", "/coupons", fixed("x", amount_cents=None,
                                            amount_currency=None))
    assert e == {"amount_cents": ["value_is_mandatory"],
                 "amount_currency": ["value_is_mandatory"]}, e
    for amount in (0, -5):
        e = errors(c, "POST", "/coupons", fixed("x", amount_cents=amount))
        assert e == {"amount_cents": ["value_is_out_of_range"]}, e
    e = errors(c, "POST", "/coupons", fixed("x", amount_currency="XYZ"))
    assert e == {"amount_currency": ["value_is_invalid"]}, e
    e = errors(c, "POST", "/coupons", percent("x", percentage_rate=None))
    assert e == {"percentage_rate": ["value_is_mandatory"]}, e
    for rate, code in (("abc", "invalid_value"), (True, "invalid_value"),
                       ("-1", "value_is_out_of_range"),
                       ("100000", "value_is_out_of_range")):
        e = errors(c, "POST", "/coupons", percent("x", percentage_rate=rate))
        assert e == {"percentage_rate": [code]}, (rate, e)
    e = errors(c, "POST", "/coupons", fixed("x", coupon_type="free",
                                            frequency="daily",
                                            expiration="never"))
    assert e == {"coupon_type": ["value_is_invalid"],
                 "frequency": ["value_is_invalid"],
                 "expiration": ["value_is_invalid"]}, e
    e = errors(c, "POST", "/coupons", fixed("x", name="  "))
    assert e == {"name": ["value_is_mandatory"]}, e
    e = errors(c, "POST", "/coupons", fixed())
    assert e == {"code": ["value_already_exist"]}, e
    e = errors(c, "POST", "/coupons", fixed("x", reusable=None))
    assert e == {"reusable": ["value_is_invalid"]}, e
    e = errors(c, "POST", "/coupons", fixed("x", amount_cents="lots",
                                            reusable="yes"))
    assert e == {"amount_cents": ["invalid_value"],
                 "reusable": ["invalid_value"]}, e
    # Coupons::ValidateService runs first, alone.
    for when in (today(-1), "soon", 5):
        e = errors(c, "POST", "/coupons", fixed("x", name=None,
                                                expiration="time_limit",
                                                expiration_at=when))
        assert e == {"expiration_at": ["invalid_date"]}, (when, e)
    create(c, fixed("today", expiration="time_limit",
                    expiration_at=today(0) + "T23:59:59Z"))
    st, b = c.api("GET", "/coupons")
    assert b["meta"]["total_count"] == 2, b


@s.test
def limitations(t):
    c = Collector(t)
    bm = metric(c, "calls")
    metric(c, "storage")
    plan(c, "basic", [bm])
    plan(c, "pro")
    x = create(c, fixed("p", applies_to={"plan_codes": ["basic", "pro",
                                                        "basic"]}))
    assert (x["limited_plans"], x["limited_billable_metrics"],
            x["plan_codes"], x["billable_metric_codes"]) == (
        True, False, ["basic", "pro"], []), x
    y = create(c, fixed("m", applies_to={"billable_metric_codes":
                                         ["storage"]}))
    assert (y["limited_plans"], y["limited_billable_metrics"],
            y["billable_metric_codes"]) == (False, True, ["storage"]), y
    z = create(c, fixed("e", applies_to={"plan_codes": [],
                                         "billable_metric_codes": []}))
    assert (z["limited_plans"], z["limited_billable_metrics"]) == (
        False, False), z
    want = {"status": 404, "error": "Not Found", "code": "plans_not_found"}
    st, b = c.api("POST", "/coupons", fixed(
        "q", applies_to={"plan_codes": ["basic", "gold"]}))
    assert (st, b) == (404, want), (st, b)
    st, b = c.api("POST", "/coupons", fixed(
        "q", applies_to={"billable_metric_codes": ["nope"]}))
    assert st == 404 and b["code"] == "billable_metrics_not_found", (st, b)
    st, b = c.api("POST", "/coupons", fixed(
        "q", applies_to={"plan_codes": ["basic"],
                         "billable_metric_codes": ["calls"]}))
    assert st == 405, (st, b)
    assert b == {"status": 405, "error": "Method Not Allowed",
                 "code": "only_one_limitation_type_per_coupon_allowed"}, b
    # A deleted plan drops out of plan_codes.
    ok(c.api("DELETE", "/plans/pro"))
    x = ok(c.api("GET", "/coupons/p"))["coupon"]
    assert x["plan_codes"] == ["basic"], x


@s.test
def get_list_order_and_pagination(t):
    c = Collector(t)
    a = create(c, fixed("a", expiration="time_limit",
                        expiration_at="2099-05-01T00:00:00Z"))
    time.sleep(0.01)
    b = create(c, fixed("b"))
    time.sleep(0.01)
    d = create(c, fixed("d", expiration="time_limit",
                        expiration_at="2098-05-01T00:00:00Z"))
    st, body = c.api("GET", "/coupons/a")
    assert st == 200 and body == {"coupon": a}, (st, body)
    st, body = c.api("GET", "/coupons/zz")
    assert (st, body) == (404, {"status": 404, "error": "Not Found",
                                "code": "coupon_not_found"}), (st, body)
    # Lago's order: status, expiration (no_expiration first), expiration_at.
    body = ok(c.api("GET", "/coupons"))
    assert list(body) == ["coupons", "meta"], body
    assert body["coupons"] == [b, d, a], [x["code"] for x in body["coupons"]]
    assert body["meta"] == {"current_page": 1, "next_page": None,
                            "prev_page": None, "total_pages": 1,
                            "total_count": 3}, body
    body = ok(c.api("GET", "/coupons?page=2&per_page=2"))
    assert body["coupons"] == [a], body
    assert body["meta"] == {"current_page": 2, "next_page": None,
                            "prev_page": 1, "total_pages": 2,
                            "total_count": 3}, body
    st, body = c.api("GET", "/coupons?page=0")
    assert st == 422, (st, body)
    st, body = c.api("GET", "/coupons", key="wrong")
    assert st == 401, (st, body)


@s.test
def update(t):
    c = Collector(t)
    plan(c, "basic")
    bm = metric(c, "calls")
    plan(c, "pro", [bm])
    create(c, fixed(applies_to={"plan_codes": ["basic"]}))
    st, b = c.api("PUT", "/coupons/nope", fixed())
    assert st == 404 and b["code"] == "coupon_not_found", (st, b)
    st, b = c.api("PUT", "/coupons/off5", {"x": 1})
    assert st == 400, (st, b)
    x = ok(c.api("PUT", "/coupons/off5", {"coupon": {
        "name": "Six off", "amount_cents": 600, "description": "d",
        "applies_to": {"plan_codes": ["basic"]}}}))["coupon"]
    assert (x["name"], x["amount_cents"], x["description"],
            x["limited_plans"], x["plan_codes"]) == (
        "Six off", 600, "d", True, ["basic"]), x
    # A percentage needs its rate; the metric limitation replaces the plans.
    e = errors(c, "PUT", "/coupons/off5", {"coupon": {
        "coupon_type": "percentage"}})
    assert e == {"percentage_rate": ["value_is_mandatory"]}, e
    x = ok(c.api("PUT", "/coupons/off5", {"coupon": {
        "applies_to": {"billable_metric_codes": ["calls"]}}}))["coupon"]
    assert (x["limited_plans"], x["limited_billable_metrics"],
            x["plan_codes"], x["billable_metric_codes"]) == (
        False, True, [], ["calls"]), x
    st, b = c.api("PUT", "/coupons/off5", {"coupon": {
        "applies_to": {"plan_codes": ["gold"]}}})
    assert st == 404 and b["code"] == "plans_not_found", (st, b)
    e = errors(c, "PUT", "/coupons/off5", {"coupon": {
        "expiration_at": today(-3)}})
    assert e == {"expiration_at": ["invalid_date"]}, e
    # Lago's UpdateService keeps the targets it is given: none here.
    x = ok(c.api("PUT", "/coupons/off5", {"coupon": {"code": "off6"}}))
    x = x["coupon"]
    assert (x["code"], x["billable_metric_codes"]) == ("off6", []), x
    assert ok(c.api("GET", "/coupons/off6"))["coupon"] == x
    assert c.api("GET", "/coupons/off5")[0] == 404
    create(c, fixed("other"))
    e = errors(c, "PUT", "/coupons/off6", {"coupon": {"code": "other"}})
    assert e == {"code": ["value_already_exist"]}, e
    # Once applied, only the name, description and expiration change.
    customer(c)
    ok(apply(c, "off6"))
    x = ok(c.api("PUT", "/coupons/off6", {"coupon": {
        "name": "Renamed", "amount_cents": 1, "code": "zzz",
        "expiration": "time_limit", "expiration_at": "2099-01-01",
        "frequency": "forever"}}))["coupon"]
    assert (x["name"], x["amount_cents"], x["code"], x["frequency"],
            x["expiration"], x["expiration_at"]) == (
        "Renamed", 600, "off6", "once", "time_limit",
        "2099-01-01T00:00:00Z"), x


@s.test
def delete_coupon(t):
    c = Collector(t)
    customer(c)
    made = create(c, fixed())
    applied = ok(apply(c, "off5"))["applied_coupon"]
    st, b = c.api("DELETE", "/coupons/off5")
    assert st == 200 and b["coupon"] == made, (st, b)
    assert c.api("GET", "/coupons/off5")[0] == 404
    assert c.api("DELETE", "/coupons/off5")[0] == 404
    # Its applied coupons end; the code is free again.
    lst = ok(c.api("GET", "/applied_coupons"))["applied_coupons"]
    assert len(lst) == 1 and lst[0]["lago_id"] == applied["lago_id"], lst
    assert lst[0]["status"] == "terminated", lst
    assert lst[0]["terminated_at"] is not None, lst
    assert lst[0]["coupon_deleted_at"] is not None, lst
    again = create(c, fixed())
    assert again["lago_id"] != made["lago_id"]


@s.test
def expiry_terminates(t):
    c = Collector(t)
    customer(c)
    # Valid today (Lago compares dates), past already (its clock job ends it).
    at = today(0) + "T00:00:00Z"
    create(c, fixed("old", expiration="time_limit", expiration_at=at))
    x = ok(c.api("GET", "/coupons/old"))["coupon"]
    assert x["terminated_at"] == at, x
    st, b = apply(c, "old")
    assert st == 404 and b["code"] == "coupon_not_found", (st, b)


# ---- Applied coupons ------------------------------------------------------


@s.test
def apply_coupon(t):
    c = Collector(t)
    cu = customer(c)
    cp = create(c, fixed(description="d"))
    b = ok(apply(c, "off5"))
    assert list(b) == ["applied_coupon"], b
    a = b["applied_coupon"]
    assert list(a) == APPLIED_KEYS, list(a)
    assert (a["lago_coupon_id"], a["coupon_code"], a["coupon_name"],
            a["coupon_description"], a["coupon_status"],
            a["coupon_deleted_at"], a["lago_customer_id"],
            a["external_customer_id"], a["status"]) == (
        cp["lago_id"], "off5", "Five off", "d", "active", None,
        cu["lago_id"], "cus_1", "active"), a
    assert (a["amount_cents"], a["amount_cents_remaining"],
            a["amount_currency"], a["percentage_rate"], a["frequency"],
            a["frequency_duration"], a["frequency_duration_remaining"],
            a["expiration_at"], a["terminated_at"]) == (
        500, 500, "EUR", None, "once", None, None, None, None), a
    # A fixed coupon gives its currency to a customer without one.
    got = ok(c.api("GET", "/customers/cus_1"))["customer"]
    assert got["currency"] == "EUR", got
    # Overrides, as Lago's params[:x] || coupon.x.
    create(c, percent())
    a = ok(apply(c, "ten", percentage_rate="12.5", frequency_duration=6))
    a = a["applied_coupon"]
    assert (a["percentage_rate"], a["frequency"], a["frequency_duration"],
            a["frequency_duration_remaining"], a["amount_cents"],
            a["amount_cents_remaining"], a["amount_currency"]) == (
        "12.5", "recurring", 6, 6, None, None, None), a
    a = ok(apply(c, "ten", frequency="forever", percentage_rate=None))
    a = a["applied_coupon"]
    assert (a["percentage_rate"], a["frequency"]) == ("10.0", "forever"), a
    a = ok(apply(c, "off5", amount_cents=250, frequency="recurring"))
    a = a["applied_coupon"]
    assert (a["amount_cents"], a["amount_cents_remaining"]) == (250, None), a


@s.test
def apply_errors(t):
    c = Collector(t)
    customer(c)
    customer(c, "cus_usd", currency="USD")
    create(c, fixed(reusable=False))
    create(c, percent())
    st, b = c.api("POST", "/applied_coupons", {"coupon": {}})
    assert st == 400, (st, b)
    st, b = apply(c, "off5", ext="ghost")
    assert (st, b) == (404, {"status": 404, "error": "Not Found",
                             "code": "customer_not_found"}), (st, b)
    st, b = apply(c, "nope")
    assert st == 404 and b["code"] == "coupon_not_found", (st, b)
    st, b = c.api("POST", "/applied_coupons",
                  {"applied_coupon": {"external_customer_id": "cus_1"}})
    assert st == 404 and b["code"] == "coupon_not_found", (st, b)
    e = errors(c, "POST", "/applied_coupons", {"applied_coupon": {
        "external_customer_id": "cus_usd", "coupon_code": "off5"}})
    assert e == {"currency": ["currencies_does_not_match"]}, e
    e = errors(c, "POST", "/applied_coupons", {"applied_coupon": {
        "external_customer_id": "cus_1", "coupon_code": "off5",
        "amount_cents": -1}})
    assert e == {"amount_cents": ["value_is_out_of_range"]}, e
    e = errors(c, "POST", "/applied_coupons", {"applied_coupon": {
        "external_customer_id": "cus_1", "coupon_code": "ten",
        "frequency": "weekly", "amount_currency": "ABC"}})
    assert e == {"amount_currency": ["value_is_invalid"],
                 "frequency": ["value_is_invalid"]}, e
    e = errors(c, "POST", "/applied_coupons", {"applied_coupon": {
        "external_customer_id": "cus_1", "coupon_code": "ten",
        "frequency_duration": "x"}})
    assert e == {"frequency_duration": ["invalid_value"]}, e
    # Not reusable: once per customer, even after its end.
    a = ok(apply(c, "off5"))["applied_coupon"]
    e = errors(c, "POST", "/applied_coupons", {"applied_coupon": {
        "external_customer_id": "cus_1", "coupon_code": "off5"}})
    assert e == {"coupon": ["coupon_is_not_reusable"]}, e
    ok(c.api("DELETE", "/customers/cus_1/applied_coupons/" + a["lago_id"]))
    e = errors(c, "POST", "/applied_coupons", {"applied_coupon": {
        "external_customer_id": "cus_1", "coupon_code": "off5"}})
    assert e == {"coupon": ["coupon_is_not_reusable"]}, e
    # Reusable: as often as wanted.
    ok(apply(c, "ten"))
    ok(apply(c, "ten"))


@s.test
def plan_overlapping(t):
    c = Collector(t)
    customer(c)
    calls = metric(c, "calls")
    metric(c, "storage")
    plan(c, "basic", [calls])
    plan(c, "pro")
    create(c, fixed("p1", applies_to={"plan_codes": ["basic"]}))
    create(c, fixed("p2", applies_to={"plan_codes": ["basic", "pro"]}))
    create(c, fixed("m1", applies_to={"billable_metric_codes": ["calls"]}))
    create(c, fixed("m2", applies_to={"billable_metric_codes": ["storage"]}))
    create(c, fixed("pro", applies_to={"plan_codes": ["pro"]}))
    ok(apply(c, "p1"))
    want = {"status": 405, "error": "Method Not Allowed",
            "code": "plan_overlapping"}
    for code in ("p2", "m1", "p1"):	# same plan; a metric basic charges
        st, b = apply(c, code)
        assert (st, b) == (405, want), (code, st, b)
    ok(apply(c, "m2"))		# no plan charges storage
    ok(apply(c, "pro"))
    # Another customer is free of them; unlimited coupons never overlap.
    customer(c, "cus_2")
    ok(apply(c, "m1", ext="cus_2"))
    create(c, fixed("all"))
    ok(apply(c, "all"))
    ok(apply(c, "all"))


@s.test
def list_applied(t):
    c = Collector(t)
    customer(c)
    customer(c, "cus_2")
    create(c, fixed())
    create(c, percent())
    a1 = ok(apply(c, "off5"))["applied_coupon"]
    time.sleep(0.01)
    a2 = ok(apply(c, "ten"))["applied_coupon"]
    time.sleep(0.01)
    a3 = ok(apply(c, "ten", ext="cus_2"))["applied_coupon"]
    ok(c.api("DELETE", "/customers/cus_1/applied_coupons/" + a1["lago_id"]))
    b = ok(c.api("GET", "/applied_coupons"))
    assert list(b) == ["applied_coupons", "meta"], b
    ids = [x["lago_id"] for x in b["applied_coupons"]]
    assert ids == [a3["lago_id"], a2["lago_id"], a1["lago_id"]], ids
    for x in b["applied_coupons"]:
        assert list(x) == APPLIED_KEYS + ["credits"], list(x)
        assert x["credits"] == [], x
    assert b["meta"]["total_count"] == 3, b
    b = ok(c.api("GET", "/applied_coupons?external_customer_id=cus_1"))
    assert [x["lago_id"] for x in b["applied_coupons"]] == [
        a2["lago_id"], a1["lago_id"]], b
    b = ok(c.api("GET", "/applied_coupons?external_customer_id=cus_1"
                 "&status=terminated"))
    assert [x["lago_id"] for x in b["applied_coupons"]] == [
        a1["lago_id"]], b
    assert b["meta"]["total_count"] == 1, b
    # An unknown status is no filter (AppliedCouponsQuery ignores it).
    b = ok(c.api("GET", "/applied_coupons?status=bogus&per_page=1&page=2"))
    assert [x["lago_id"] for x in b["applied_coupons"]] == [
        a2["lago_id"]], b
    assert b["meta"] == {"current_page": 2, "next_page": 3, "prev_page": 1,
                         "total_pages": 3, "total_count": 3}, b
    b = ok(c.api("GET", "/applied_coupons?external_customer_id=nobody"))
    assert b["applied_coupons"] == [] and b["meta"]["total_count"] == 0, b
    # A deleted customer's applied coupons leave the list.
    ok(c.api("DELETE", "/customers/cus_2"))
    b = ok(c.api("GET", "/applied_coupons"))
    assert len(b["applied_coupons"]) == 2, b


@s.test
def terminate_applied(t):
    c = Collector(t)
    customer(c)
    customer(c, "cus_2")
    create(c, percent())
    a = ok(apply(c, "ten"))["applied_coupon"]
    path = "/customers/cus_1/applied_coupons/" + a["lago_id"]
    st, b = c.api("DELETE", "/customers/ghost/applied_coupons/" +
                  a["lago_id"])
    assert st == 404 and b["code"] == "customer_not_found", (st, b)
    st, b = c.api("DELETE", "/customers/cus_2/applied_coupons/" +
                  a["lago_id"])
    assert st == 404 and b["code"] == "applied_coupon_not_found", (st, b)
    st, b = c.api("DELETE", "/customers/cus_1/applied_coupons/nope")
    assert st == 404 and b["code"] == "applied_coupon_not_found", (st, b)
    x = ok(c.api("DELETE", path))["applied_coupon"]
    assert list(x) == APPLIED_KEYS, list(x)
    assert x["status"] == "terminated" and x["terminated_at"], x
    assert {k: v for k, v in x.items() if k not in (
        "status", "terminated_at")} == {k: v for k, v in a.items() if k not in (
            "status", "terminated_at")}, (x, a)
    # Again: the same answer, the first termination time kept.
    y = ok(c.api("DELETE", path))["applied_coupon"]
    assert y == x, (y, x)


@s.test
def restart_keeps_coupons(t):
    c = Collector(t)
    customer(c)
    made = create(c, percent(description="kept"))
    a = ok(apply(c, "ten"))["applied_coupon"]
    c.stop()
    c.start()
    assert ok(c.api("GET", "/coupons/ten"))["coupon"] == made
    lst = ok(c.api("GET", "/applied_coupons"))["applied_coupons"]
    assert len(lst) == 1, lst
    del lst[0]["credits"]
    assert lst[0] == a, (lst[0], a)


if __name__ == "__main__":
    s.main()
