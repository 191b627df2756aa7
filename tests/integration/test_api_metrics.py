"""The Lago-compatible /api/v1/billable_metrics endpoints: create, get,
list with pagination, update, delete, Lago's validation codes and error
bodies, the agents' catalog following every change, and persistence
across a restart."""
import json
import sqlite3
import time
import uuid

from harness import Collector, Suite, http

s = Suite("api_metrics")

KEYS = ["lago_id", "name", "code", "description", "aggregation_type",
        "weighted_interval", "recurring", "rounding_function",
        "rounding_precision", "created_at", "field_name", "expression",
        "active_subscriptions_count", "draft_invoices_count", "plans_count",
        "filters"]
SHOW_KEYS = [k for k in KEYS if not k.endswith("_count")]


def metric(code="api_calls", **kw):
    m = {"name": "API calls", "code": code, "aggregation_type": "count_agg"}
    m.update(kw)
    return {"billable_metric": m}


def create(c, code="api_calls", **kw):
    st, body = c.api("POST", "/billable_metrics", metric(code, **kw))
    assert st == 200, (st, body)
    return body["billable_metric"]


def assert_422(c, method, path, body, field, code):
    st, b = c.api(method, path, body)
    assert st == 422, (st, b)
    assert b["status"] == 422 and b["error"] == "Unprocessable Entity", b
    assert b["code"] == "validation_errors", b
    assert code in b["error_details"].get(field, []), (field, code, b)


def catalog(c, token):
    st, b = http("GET", c.url + "/v1/catalog",
                 headers={"Authorization": "Bearer " + token})
    assert st == 200, (st, b)
    return b


@s.test
def create_full_object(t):
    c = Collector(t)
    st, b = c.api("POST", "/billable_metrics", metric(
        "storage", name="Storage", description="GB stored",
        aggregation_type="sum_agg", field_name="gb", recurring=True,
        rounding_function="ceil", rounding_precision=2,
        filters=[{"key": "region", "values": ["us", "eu", "us"]},
                 {"key": "cloud", "values": ["gcp", "aws"]}]))
    assert st == 200, (st, b)
    assert list(b.keys()) == ["billable_metric"], b
    m = b["billable_metric"]
    assert list(m.keys()) == KEYS, list(m.keys())
    assert len(m["lago_id"]) == 36 and m["lago_id"].count("-") == 4, m
    assert m["name"] == "Storage" and m["code"] == "storage", m
    assert m["description"] == "GB stored", m
    assert m["aggregation_type"] == "sum_agg", m
    assert m["weighted_interval"] is None, m
    assert m["recurring"] is True, m
    assert m["rounding_function"] == "ceil" and m["rounding_precision"] == 2, m
    assert m["field_name"] == "gb" and m["expression"] is None, m
    assert (m["active_subscriptions_count"], m["draft_invoices_count"],
            m["plans_count"]) == (0, 0, 0), m
    # Lago orders filters by key and serializes each as {key, values}.
    assert m["filters"] == [{"key": "cloud", "values": ["aws", "gcp"]},
                            {"key": "region", "values": ["eu", "us"]}], m
    assert m["created_at"].endswith("Z") and "." not in m["created_at"], m
    assert time.strptime(m["created_at"], "%Y-%m-%dT%H:%M:%SZ")


@s.test
def defaults_and_derived_fields(t):
    c = Collector(t)
    m = create(c, "calls", field_name="ignored")
    # count_agg counts events: field_name is dropped; recurring false.
    assert m["field_name"] is None and m["recurring"] is False, m
    assert m["description"] is None and m["filters"] == [], m
    assert m["rounding_function"] is None and m["rounding_precision"] is None, m
    m = create(c, "seats", aggregation_type="weighted_sum_agg",
               field_name="seats")
    assert m["weighted_interval"] == "seconds", m
    m = create(c, "peak", aggregation_type="max_agg", field_name="v",
               weighted_interval="seconds", expression="round(v, 2)")
    assert m["weighted_interval"] is None, m
    assert m["expression"] == "round(v, 2)", m
    # A key named twice keeps its last values (Lago updates one record).
    m = create(c, "dup", filters=[{"key": "r", "values": ["a"]},
                                  {"key": "q", "values": ["z"]},
                                  {"key": "r", "values": ["c", "b", "c"]}])
    assert m["filters"] == [{"key": "q", "values": ["z"]},
                            {"key": "r", "values": ["b", "c"]}], m
    for agg in ("unique_count_agg", "latest_agg"):
        m = create(c, agg, aggregation_type=agg, field_name="f",
                   rounding_precision=-1, rounding_function="round")
        assert m["aggregation_type"] == agg and m["rounding_precision"] == -1


@s.test
def get_show_has_no_counters(t):
    c = Collector(t)
    made = create(c, "api_calls", filters=[{"key": "k", "values": ["b", "a"]}])
    st, b = c.api("GET", "/billable_metrics/api_calls")
    assert st == 200, (st, b)
    m = b["billable_metric"]
    assert list(m.keys()) == SHOW_KEYS, list(m.keys())
    for k in SHOW_KEYS:
        assert m[k] == made[k], (k, m[k], made[k])
    assert m["filters"] == [{"key": "k", "values": ["a", "b"]}], m


@s.test
def not_found_and_unauthorized(t):
    c = Collector(t)
    for method in ("GET", "DELETE"):
        st, b = c.api(method, "/billable_metrics/nope")
        assert st == 404, (method, st, b)
        assert b == {"status": 404, "error": "Not Found",
                     "code": "billable_metric_not_found"}, b
    st, b = c.api("PUT", "/billable_metrics/nope", metric("nope"))
    assert st == 404 and b["code"] == "billable_metric_not_found", (st, b)
    for method, path, body in (("GET", "/billable_metrics", None),
                               ("POST", "/billable_metrics", metric()),
                               ("GET", "/billable_metrics/x", None)):
        st, b = c.api(method, path, body, key="wrong-key")
        assert st == 401, (st, b)
        assert b == {"status": 401, "error": "Unauthorized"}, b
    st, b = c.api("GET", "/billable_metrics")
    assert st == 200 and b["billable_metrics"] == [], b


@s.test
def missing_wrapper_is_400(t):
    c = Collector(t)
    want = {"status": 400, "error": "BadRequest: param is missing or the "
            "value is empty or invalid: billable_metric"}
    for body in ({"name": "x"}, {"billable_metric": "x"}):
        st, b = c.api("POST", "/billable_metrics", body)
        assert st == 400 and b == want, (st, b)
    create(c)
    st, b = c.api("PUT", "/billable_metrics/api_calls", {"metric": {}})
    assert st == 400 and b == want, (st, b)
    st, b = c.api("POST", "/billable_metrics", raw=b"{not json")
    assert st == 400 and b["status"] == 400, (st, b)


@s.test
def validation_errors(t):
    c = Collector(t)
    p = "/billable_metrics"
    st, b = c.api("POST", p, {"billable_metric": {}})
    assert st == 422, (st, b)
    d = b["error_details"]
    assert d["name"] == ["value_is_mandatory"], d
    assert d["code"] == ["value_is_mandatory"], d
    assert d["aggregation_type"] == ["value_is_invalid"], d
    assert_422(c, "POST", p, metric(name=""), "name", "value_is_mandatory")
    assert_422(c, "POST", p, metric(code=""), "code", "value_is_mandatory")
    assert_422(c, "POST", p, metric(name=" \t"), "name", "value_is_mandatory")
    assert_422(c, "POST", p, metric(aggregation_type="avg_agg"),
               "aggregation_type", "value_is_invalid")
    assert_422(c, "POST", p, metric(aggregation_type="custom_agg"),
               "aggregation_type", "value_is_invalid")
    for agg in ("sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg",
                "latest_agg"):
        assert_422(c, "POST", p, metric(aggregation_type=agg),
                   "field_name", "value_is_mandatory")
    assert_422(c, "POST", p, metric(aggregation_type="weighted_sum_agg",
                                    field_name="f", weighted_interval="hours"),
               "weighted_interval", "value_is_invalid")
    for agg in ("count_agg", "max_agg", "latest_agg"):
        assert_422(c, "POST", p, metric(aggregation_type=agg, field_name="f",
                                        recurring=True),
                   "recurring", "not_compatible_with_aggregation_type")
    assert_422(c, "POST", p, metric(recurring="yes"), "recurring",
               "invalid_value")
    assert_422(c, "POST", p, metric(rounding_function="trunc"),
               "rounding_function", "value_is_invalid")
    assert_422(c, "POST", p, metric(rounding_precision=1.5),
               "rounding_precision", "invalid_value")
    assert_422(c, "POST", p, metric(rounding_precision="two"),
               "rounding_precision", "invalid_value")
    assert_422(c, "POST", p, metric(expression=42), "expression",
               "invalid_value")
    assert_422(c, "POST", p, metric(name=7), "name", "invalid_value")
    assert_422(c, "POST", p, metric(filters={"key": "k"}), "filters",
               "invalid_value")
    assert_422(c, "POST", p, metric(filters=[{"key": "", "values": ["a"]}]),
               "key", "value_is_mandatory")
    assert_422(c, "POST", p, metric(filters=[{"key": "k", "values": []}]),
               "values", "value_is_mandatory")
    assert_422(c, "POST", p, metric(filters=[{"key": "k"}]),
               "values", "value_is_mandatory")
    assert_422(c, "POST", p, metric(filters=[{"key": "k", "values": [1]}]),
               "filters", "invalid_value")
    assert_422(c, "POST", p, metric(filters=["k"]), "filters",
               "invalid_value")
    # Nothing was stored by any of these.
    st, b = c.api("GET", p)
    assert st == 200 and b["meta"]["total_count"] == 0, b


@s.test
def duplicate_code(t):
    c = Collector(t)
    create(c, "api_calls")
    assert_422(c, "POST", "/billable_metrics", metric("api_calls"),
               "code", "value_already_exist")
    create(c, "other")
    assert_422(c, "PUT", "/billable_metrics/other", metric("api_calls"),
               "code", "value_already_exist")
    # A deleted metric's code is free again.
    st, _ = c.api("DELETE", "/billable_metrics/api_calls")
    assert st == 200
    create(c, "api_calls")


@s.test
def list_and_pagination(t):
    c = Collector(t)
    first = create(c, "first")
    time.sleep(0.01)
    second = create(c, "second", filters=[{"key": "r", "values": ["x"]}])
    st, b = c.api("GET", "/billable_metrics")
    assert st == 200, (st, b)
    assert list(b.keys()) == ["billable_metrics", "meta"], b
    assert [m["code"] for m in b["billable_metrics"]] == ["second", "first"]
    assert list(b["billable_metrics"][0].keys()) == KEYS
    assert b["billable_metrics"][0] == second, b
    assert b["billable_metrics"][1] == first, b
    assert b["meta"] == {"current_page": 1, "next_page": None,
                         "prev_page": None, "total_pages": 1,
                         "total_count": 2}, b
    st, b = c.api("GET", "/billable_metrics?page=1&per_page=1")
    assert [m["code"] for m in b["billable_metrics"]] == ["second"], b
    assert list(b["meta"].keys()) == ["current_page", "next_page",
                                      "prev_page", "total_pages",
                                      "total_count"], b
    assert b["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None,
                         "total_pages": 2, "total_count": 2}, b
    st, b = c.api("GET", "/billable_metrics?page=2&per_page=1")
    assert [m["code"] for m in b["billable_metrics"]] == ["first"], b
    assert b["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1,
                         "total_pages": 2, "total_count": 2}, b
    st, b = c.api("GET", "/billable_metrics?page=3&per_page=1")
    assert st == 200 and b["billable_metrics"] == [], b
    assert b["meta"] == {"current_page": 0, "next_page": None,
                         "prev_page": None, "total_pages": 0,
                         "total_count": 0}, b
    st, b = c.api("GET", "/billable_metrics?per_page=0")
    assert st == 422 and b["error_details"] == {"per_page": ["invalid_value"]}


@s.test
def update_changes_fields(t):
    c = Collector(t)
    made = create(c, "calls")
    st, b = c.api("PUT", "/billable_metrics/calls", {"billable_metric": {
        "name": "Bytes", "code": "bytes", "aggregation_type": "sum_agg",
        "field_name": "bytes", "description": "sent",
        "filters": [{"key": "region", "values": ["eu"]}]}})
    assert st == 200, (st, b)
    m = b["billable_metric"]
    assert list(m.keys()) == KEYS, list(m.keys())
    assert m["lago_id"] == made["lago_id"], m
    assert m["created_at"] == made["created_at"], m
    assert (m["name"], m["code"], m["aggregation_type"], m["field_name"],
            m["description"]) == ("Bytes", "bytes", "sum_agg", "bytes",
                                  "sent"), m
    assert m["filters"] == [{"key": "region", "values": ["eu"]}], m
    st, b = c.api("GET", "/billable_metrics/calls")
    assert st == 404, (st, b)
    st, b = c.api("GET", "/billable_metrics/bytes")
    assert st == 200 and b["billable_metric"]["name"] == "Bytes", b
    # Only the named keys change; null clears; filters [] removes them.
    st, b = c.api("PUT", "/billable_metrics/bytes", {"billable_metric": {
        "description": None, "filters": []}})
    m = b["billable_metric"]
    assert st == 200 and m["description"] is None and m["filters"] == [], b
    assert m["name"] == "Bytes" and m["field_name"] == "bytes", m
    # Validation runs on the merged metric.
    assert_422(c, "PUT", "/billable_metrics/bytes",
               {"billable_metric": {"field_name": None}},
               "field_name", "value_is_mandatory")
    assert_422(c, "PUT", "/billable_metrics/bytes",
               {"billable_metric": {"aggregation_type": "max_agg",
                                    "recurring": True}},
               "recurring", "not_compatible_with_aggregation_type")
    assert_422(c, "PUT", "/billable_metrics/bytes",
               {"billable_metric": {"name": ""}}, "name", "value_is_mandatory")
    st, b = c.api("GET", "/billable_metrics/bytes")
    assert b["billable_metric"]["aggregation_type"] == "sum_agg", b
    # Switching to count_agg drops the field.
    st, b = c.api("PUT", "/billable_metrics/bytes", {"billable_metric": {
        "aggregation_type": "count_agg"}})
    assert st == 200 and b["billable_metric"]["field_name"] is None, b


def add_plan(c, plan_code, charges):
    """A live plan row whose charges price the given metrics.  Written to
    the collector's database directly, so that this test does not depend
    on POST /plans; the doc carries only what the metrics API reads."""
    doc = json.dumps({"code": plan_code, "charges": charges})
    with sqlite3.connect(c.db, timeout=10) as db:
        db.execute("INSERT INTO plans (lago_id, code, doc, created_at) "
                   "VALUES (?, ?, ?, ?)",
                   (str(uuid.uuid4()), plan_code, doc, int(time.time() * 1000)))


@s.test
def update_of_metric_used_by_plan(t):
    c = Collector(t)
    made = create(c, "calls")
    other = create(c, "bytes", aggregation_type="sum_agg", field_name="b")
    add_plan(c, "pro", [{"billable_metric_code": "calls"}])
    add_plan(c, "basic", [{"billable_metric_id": other["lago_id"]}])
    # Lago edits only name, description and filters of a metric in use,
    # and ignores the other fields without an error.
    st, b = c.api("PUT", "/billable_metrics/calls", {"billable_metric": {
        "name": "Calls", "description": "d", "code": "renamed",
        "aggregation_type": "sum_agg", "field_name": "f",
        "filters": [{"key": "region", "values": ["eu"]}]}})
    assert st == 200, (st, b)
    m = b["billable_metric"]
    assert (m["name"], m["description"], m["code"], m["aggregation_type"],
            m["field_name"]) == ("Calls", "d", "calls", "count_agg", None), m
    assert m["filters"] == [{"key": "region", "values": ["eu"]}], m
    assert m["lago_id"] == made["lago_id"], m
    st, b = c.api("PUT", "/billable_metrics/bytes", {"billable_metric": {
        "aggregation_type": "max_agg", "name": "B"}})
    assert st == 200, (st, b)
    m = b["billable_metric"]
    assert m["aggregation_type"] == "sum_agg" and m["name"] == "B", m
    # A metric no plan uses stays fully editable.
    create(c, "free")
    st, b = c.api("PUT", "/billable_metrics/free", {"billable_metric": {
        "aggregation_type": "max_agg", "field_name": "v"}})
    assert st == 200 and b["billable_metric"]["aggregation_type"] == "max_agg"


@s.test
def delete_then_gone(t):
    c = Collector(t)
    made = create(c, "calls")
    create(c, "other")
    st, b = c.api("DELETE", "/billable_metrics/calls")
    assert st == 200, (st, b)
    assert list(b["billable_metric"].keys()) == KEYS, b
    assert b["billable_metric"] == made, b
    st, b = c.api("GET", "/billable_metrics/calls")
    assert st == 404 and b["code"] == "billable_metric_not_found", (st, b)
    st, b = c.api("DELETE", "/billable_metrics/calls")
    assert st == 404, (st, b)
    st, b = c.api("GET", "/billable_metrics")
    assert [m["code"] for m in b["billable_metrics"]] == ["other"], b
    assert b["meta"]["total_count"] == 1, b


@s.test
def catalog_follows_changes(t):
    c = Collector(t)
    token = c.agent_token("a1")
    v0 = catalog(c, token)["version"]
    create(c, "storage", aggregation_type="sum_agg", field_name="gb",
           filters=[{"key": "region", "values": ["eu"]},
                    {"key": "cloud", "values": ["aws"]}])
    cat = catalog(c, token)
    assert cat["version"] > v0, cat
    entry = [m for m in cat["metrics"] if m["code"] == "storage"]
    assert len(entry) == 1, cat
    e = entry[0]
    assert e["aggregation_type"] == "sum_agg" and e["field_name"] == "gb", e
    assert sorted(e["filter_keys"]) == ["cloud", "region"], e
    assert e["raw"] is False, e
    v1 = cat["version"]
    st, b = c.api("PUT", "/billable_metrics/storage", {"billable_metric": {
        "aggregation_type": "weighted_sum_agg",
        "filters": [{"key": "zone", "values": ["a"]}]}})
    assert st == 200, (st, b)
    cat = catalog(c, token)
    assert cat["version"] > v1, cat
    e = [m for m in cat["metrics"] if m["code"] == "storage"][0]
    assert e["filter_keys"] == ["zone"] and e["raw"] is True, e
    v2 = cat["version"]
    # A refused change does not bump the version.
    assert_422(c, "PUT", "/billable_metrics/storage",
               {"billable_metric": {"name": ""}}, "name", "value_is_mandatory")
    assert catalog(c, token)["version"] == v2
    st, _ = c.api("DELETE", "/billable_metrics/storage")
    assert st == 200
    cat = catalog(c, token)
    assert cat["version"] > v2, cat
    assert not [m for m in cat["metrics"] if m["code"] == "storage"], cat


@s.test
def restart_keeps_metrics(t):
    c = Collector(t)
    made = create(c, "storage", aggregation_type="sum_agg", field_name="gb",
                  filters=[{"key": "region", "values": ["us", "eu"]}])
    create(c, "gone")
    st, _ = c.api("DELETE", "/billable_metrics/gone")
    assert st == 200
    c.stop()
    c.start()
    st, b = c.api("GET", "/billable_metrics/storage")
    assert st == 200, (st, b)
    for k in SHOW_KEYS:
        assert b["billable_metric"][k] == made[k], k
    st, b = c.api("GET", "/billable_metrics/gone")
    assert st == 404, (st, b)
    st, b = c.api("GET", "/billable_metrics")
    assert b["meta"]["total_count"] == 1, b


if __name__ == "__main__":
    s.main()
