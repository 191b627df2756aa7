"""The Lago-compatible /api/v1/taxes endpoints: create, get, list with
pagination, update, delete, Lago's validation codes and error bodies, the
rate printed as Lago's Float, taxes embedded in customers, and persistence
across a restart."""
import time
import urllib.request

from harness import Collector, Suite

s = Suite("api_taxes")

KEYS = ["lago_id", "name", "code", "rate", "description",
        "applied_to_organization", "add_ons_count", "customers_count",
        "plans_count", "charges_count", "commitments_count", "created_at"]


def tax(code="vat", **kw):
    t = {"name": "VAT", "code": code, "rate": "20.0"}
    t.update(kw)
    return {"tax": t}


def create(c, code="vat", **kw):
    st, body = c.api("POST", "/taxes", tax(code, **kw))
    assert st == 200, (st, body)
    return body["tax"]


def assert_422(c, method, path, body, field, code):
    st, b = c.api(method, path, body)
    assert st == 422, (st, b)
    assert b["status"] == 422 and b["error"] == "Unprocessable Entity", b
    assert b["code"] == "validation_errors", b
    assert code in b["error_details"].get(field, []), (field, code, b)


@s.test
def create_full_object(t):
    c = Collector(t)
    st, b = c.api("POST", "/taxes", tax(
        "vat_fr", name="TVA", rate="20.00", description="French VAT",
        applied_to_organization=True))
    assert st == 200, (st, b)
    assert list(b.keys()) == ["tax"], b
    x = b["tax"]
    assert list(x.keys()) == KEYS, list(x.keys())
    assert len(x["lago_id"]) == 36 and x["lago_id"].count("-") == 4, x
    assert (x["name"], x["code"], x["description"]) == (
        "TVA", "vat_fr", "French VAT"), x
    # Lago's rate is a Float: a JSON number, 20.0.
    assert x["rate"] == 20.0 and isinstance(x["rate"], float), x
    assert x["applied_to_organization"] is True, x
    for k in KEYS[6:11]:
        assert x[k] == 0, (k, x)
    assert time.strptime(x["created_at"], "%Y-%m-%dT%H:%M:%SZ")


@s.test
def rate_forms(t):
    c = Collector(t)
    for i, (given, shown) in enumerate((
            ("5.50", 5.5), (8, 8.0), (12.5, 12.5), ("0", 0.0),
            ("1e1", 10.0), ("0.000001", 0.000001), (0.1, 0.1))):
        x = create(c, "t%d" % i, rate=given)
        assert x["rate"] == shown and isinstance(x["rate"], float), (given, x)
    x = create(c, "defaults")
    assert x["description"] is None and x["applied_to_organization"] is False


@s.test
def rate_text_is_ruby_float(t):
    """The bytes are Ruby's Float#to_s: 20.0, not 20 nor 20.00."""
    c = Collector(t)
    create(c, "vat", rate="20.00")
    create(c, "half", rate=5.5)
    for code, want in (("vat", b'"rate":20.0,'), ("half", b'"rate":5.5,')):
        req = urllib.request.Request(
            c.url + "/api/v1/taxes/" + code,
            headers={"Authorization": "Bearer " + c.api_key})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        assert want in body, body


@s.test
def get_list_and_pagination(t):
    c = Collector(t)
    first = create(c, "first")
    time.sleep(0.01)
    second = create(c, "second", rate="5.5")
    st, b = c.api("GET", "/taxes/first")
    assert st == 200 and b == {"tax": first}, (st, b)
    assert list(b["tax"].keys()) == KEYS
    st, b = c.api("GET", "/taxes")
    assert st == 200, (st, b)
    assert list(b.keys()) == ["taxes", "meta"], b
    assert b["taxes"] == [second, first], b
    assert b["meta"] == {"current_page": 1, "next_page": None,
                         "prev_page": None, "total_pages": 1,
                         "total_count": 2}, b
    st, b = c.api("GET", "/taxes?page=1&per_page=1")
    assert b["taxes"] == [second], b
    assert b["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None,
                         "total_pages": 2, "total_count": 2}, b
    st, b = c.api("GET", "/taxes?page=2&per_page=1")
    assert b["taxes"] == [first], b
    assert b["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1,
                         "total_pages": 2, "total_count": 2}, b
    st, b = c.api("GET", "/taxes?page=5&per_page=1")
    assert st == 200 and b["taxes"] == [], b
    assert b["meta"] == {"current_page": 0, "next_page": None,
                         "prev_page": None, "total_pages": 0,
                         "total_count": 0}, b


@s.test
def not_found_unauthorized_bad_request(t):
    c = Collector(t)
    want = {"status": 404, "error": "Not Found", "code": "tax_not_found"}
    for method, body in (("GET", None), ("DELETE", None), ("PUT", tax("x"))):
        st, b = c.api(method, "/taxes/x", body)
        assert st == 404 and b == want, (method, st, b)
    for method, path, body in (("GET", "/taxes", None),
                               ("POST", "/taxes", tax()),
                               ("DELETE", "/taxes/vat", None)):
        st, b = c.api(method, path, body, key="nope")
        assert st == 401 and b == {"status": 401, "error": "Unauthorized"}, b
    bad = {"status": 400, "error": "BadRequest: param is missing or the "
           "value is empty or invalid: tax"}
    st, b = c.api("POST", "/taxes", {"name": "VAT"})
    assert st == 400 and b == bad, (st, b)
    create(c)
    st, b = c.api("PUT", "/taxes/vat", {"tax": 5})
    assert st == 400 and b == bad, (st, b)


@s.test
def validation_errors(t):
    c = Collector(t)
    st, b = c.api("POST", "/taxes", {"tax": {"description": "d"}})
    assert st == 422, (st, b)
    assert b["error_details"] == {"name": ["value_is_mandatory"],
                                  "code": ["value_is_mandatory"],
                                  "rate": ["value_is_mandatory"]}, b
    assert_422(c, "POST", "/taxes", tax(name=""), "name", "value_is_mandatory")
    assert_422(c, "POST", "/taxes", tax(code=""), "code", "value_is_mandatory")
    assert_422(c, "POST", "/taxes", tax(rate=None), "rate",
               "value_is_mandatory")
    assert_422(c, "POST", "/taxes", tax(name="  "), "name",
               "value_is_mandatory")
    assert_422(c, "POST", "/taxes", tax(rate=""), "rate", "value_is_mandatory")
    assert_422(c, "POST", "/taxes", tax(rate="abc"), "rate", "invalid_value")
    assert_422(c, "POST", "/taxes", tax(rate=True), "rate", "invalid_value")
    assert_422(c, "POST", "/taxes", tax(rate="-1"), "rate",
               "value_is_out_of_range")
    assert_422(c, "POST", "/taxes", tax(rate=-0.5), "rate",
               "value_is_out_of_range")
    assert_422(c, "POST", "/taxes", tax(applied_to_organization="yes"),
               "applied_to_organization", "invalid_value")
    assert_422(c, "POST", "/taxes", tax(description=3), "description",
               "invalid_value")
    st, b = c.api("GET", "/taxes")
    assert b["meta"]["total_count"] == 0, b


@s.test
def duplicate_code(t):
    c = Collector(t)
    create(c, "vat")
    assert_422(c, "POST", "/taxes", tax("vat"), "code", "value_already_exist")
    create(c, "gst")
    assert_422(c, "PUT", "/taxes/gst", {"tax": {"code": "vat"}}, "code",
               "value_already_exist")
    st, b = c.api("GET", "/taxes/gst")
    assert st == 200, (st, b)


@s.test
def update_changes_fields(t):
    c = Collector(t)
    made = create(c, "vat", description="old")
    st, b = c.api("PUT", "/taxes/vat", {"tax": {
        "name": "VAT 2", "code": "vat2", "rate": "21.5",
        "applied_to_organization": True}})
    assert st == 200, (st, b)
    x = b["tax"]
    assert list(x.keys()) == KEYS, x
    assert x["lago_id"] == made["lago_id"], x
    assert x["created_at"] == made["created_at"], x
    assert (x["name"], x["code"], x["rate"], x["description"],
            x["applied_to_organization"]) == ("VAT 2", "vat2", 21.5, "old",
                                              True), x
    st, b = c.api("GET", "/taxes/vat")
    assert st == 404, (st, b)
    st, b = c.api("GET", "/taxes/vat2")
    assert st == 200 and b["tax"] == x, (st, b)
    st, b = c.api("PUT", "/taxes/vat2", {"tax": {"description": None}})
    assert st == 200 and b["tax"]["description"] is None, b
    assert_422(c, "PUT", "/taxes/vat2", {"tax": {"rate": None}}, "rate",
               "value_is_mandatory")
    assert_422(c, "PUT", "/taxes/vat2", {"tax": {"rate": "x"}}, "rate",
               "invalid_value")
    st, b = c.api("GET", "/taxes/vat2")
    assert b["tax"]["rate"] == 21.5, b


@s.test
def delete_then_gone(t):
    c = Collector(t)
    made = create(c, "vat")
    st, b = c.api("DELETE", "/taxes/vat")
    assert st == 200 and b == {"tax": made}, (st, b)
    st, b = c.api("GET", "/taxes/vat")
    assert st == 404 and b["code"] == "tax_not_found", (st, b)
    st, b = c.api("DELETE", "/taxes/vat")
    assert st == 404, (st, b)
    # The code is free again (Lago destroys the record).
    again = create(c, "vat")
    assert again["lago_id"] != made["lago_id"], again


@s.test
def customer_taxes(t):
    c = Collector(t)
    vat = create(c, "vat")
    gst = create(c, "gst", rate="5")
    st, b = c.api("POST", "/customers", {"customer": {
        "external_id": "cus_1", "tax_codes": ["vat", "gst", "vat"]}})
    assert st == 200, (st, b)
    assert b["customer"]["taxes"] == [vat, gst], b
    st, b = c.api("POST", "/customers", {"customer": {
        "external_id": "cus_2", "tax_codes": ["vat", "nope"]}})
    assert st == 422, (st, b)
    assert b["error_details"] == {"tax_codes": ["tax_not_found"]}, b
    st, b = c.api("POST", "/customers", {"customer": {
        "external_id": "cus_3", "tax_codes": []}})
    assert st == 200 and b["customer"]["taxes"] == [], (st, b)


@s.test
def restart_keeps_taxes(t):
    c = Collector(t)
    made = create(c, "vat", rate="19.6", description="d")
    create(c, "gone")
    st, _ = c.api("DELETE", "/taxes/gone")
    assert st == 200
    c.stop()
    c.start()
    st, b = c.api("GET", "/taxes/vat")
    assert st == 200 and b == {"tax": made}, (st, b)
    st, b = c.api("GET", "/taxes/gone")
    assert st == 404, (st, b)
    st, b = c.api("GET", "/taxes")
    assert b["meta"]["total_count"] == 1 and b["taxes"] == [made], b


if __name__ == "__main__":
    s.main()
