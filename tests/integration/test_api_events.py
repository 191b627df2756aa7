"""POST /api/v1/events, /api/v1/events/batch and GET /api/v1/events/:id
against a real collector: Lago's event object, a repeat answered 200 and
counted once, each validation error with Lago's exact body (per index in
a batch), the batch cap, all or nothing, every timestamp form, the API
key, events kept across a restart and a kill -9 (exactly once), and two
collectors on one database."""
import calendar
import json
import re
import threading
import time

from harness import Collector, Suite, wait_until

s = Suite("api_events")

# An event's lago_id is a time-ordered version 7 UUID (its index appends);
# Lago's clients take lago_ids as opaque UUID strings.
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                  r"[0-9a-f]{12}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KEYS = ["lago_id", "transaction_id", "lago_customer_id", "code", "timestamp",
        "precise_total_amount_cents", "properties", "lago_subscription_id",
        "external_subscription_id", "created_at"]


def same(got, want):
    """Equal, with keys in the same order (json.dumps keeps the order)."""
    assert json.dumps(got) == json.dumps(want), (got, want)


def invalid(details):
    return {"status": 422, "error": "Unprocessable Entity",
            "code": "validation_errors", "error_details": details}


def api_events_total(c):
    return c.metric('tally_events_total{source="api"}')


def subscribe(c, ext="sub_1", customer="cus_1",
              at="2020-01-01T00:00:00Z"):
    """A subscription on a plan with no charges; returns it."""
    st, body = c.api("GET", "/plans/basic")
    if st == 404:
        st, body = c.api("POST", "/plans", {"plan": {
            "name": "Basic", "code": "basic", "interval": "monthly",
            "amount_cents": 1000, "amount_currency": "EUR",
            "pay_in_advance": False, "charges": []}})
        assert st == 200, (st, body)
    st, body = c.api("POST", "/subscriptions", {"subscription": {
        "external_customer_id": customer, "plan_code": "basic",
        "external_id": ext, "subscription_at": at}})
    assert st == 200, (st, body)
    return body["subscription"]


def post(c, event, want=200):
    st, body = c.api("POST", "/events", {"event": event})
    assert st == want, (st, body)
    return body["event"] if want == 200 else body


@s.test
def create_single(t):
    c = Collector(t)
    sub = subscribe(c)
    ev = post(c, {"transaction_id": "tx-1", "external_subscription_id": "sub_1",
                  "code": "api_calls", "timestamp": 1732464000,
                  "precise_total_amount_cents": "12.50",
                  "properties": {"bytes": 512, "region": "eu", "ratio": 0.1}})
    assert list(ev) == KEYS, list(ev)
    assert UUID.match(ev["lago_id"]), ev
    assert TIME.match(ev["created_at"]), ev
    same(ev, {"lago_id": ev["lago_id"], "transaction_id": "tx-1",
              "lago_customer_id": sub["lago_customer_id"],
              "code": "api_calls", "timestamp": "2024-11-24T16:00:00.000Z",
              "precise_total_amount_cents": "12.50",
              # Numbers are kept as the exact decimals they are billed as.
              "properties": {"bytes": "512", "region": "eu", "ratio": "0.1"},
              "lago_subscription_id": sub["lago_id"],
              "external_subscription_id": "sub_1",
              "created_at": ev["created_at"]})
    st, body = c.api("GET", "/events/tx-1")
    assert st == 200, body
    same(body["event"], ev)
    assert api_events_total(c) == 1


@s.test
def unknown_subscription_and_customer_events(t):
    c = Collector(t)
    sub = subscribe(c, at="2024-01-01T00:00:00Z")
    # Lago takes an event of an unknown code or subscription.
    ev = post(c, {"transaction_id": "tx-u", "external_subscription_id": "ghost",
                  "code": "nothing"})
    assert ev["lago_subscription_id"] is None, ev
    assert ev["lago_customer_id"] is None, ev
    assert ev["external_subscription_id"] == "ghost", ev
    assert ev["precise_total_amount_cents"] is None and ev["properties"] == {}
    # By customer only (older Lago clients).
    ev = post(c, {"transaction_id": "tx-c", "external_customer_id": "cus_1",
                  "code": "calls"})
    assert ev["external_subscription_id"] is None, ev
    assert ev["lago_subscription_id"] is None, ev
    assert ev["lago_customer_id"] == sub["lago_customer_id"], ev
    assert api_events_total(c) == 2


@s.test
def event_subscription_by_time(t):
    """The subscription covering the event's time, else the live one."""
    c = Collector(t)
    old = subscribe(c, customer="cus_old", at="2020-01-01T00:00:00Z")
    st, body = c.api("DELETE", "/subscriptions/sub_1")
    assert st == 200, body
    new = subscribe(c, customer="cus_new", at="2099-01-01T00:00:00Z")
    assert new["status"] == "pending"

    def owner(tx, ts):
        ev = post(c, {"transaction_id": tx, "code": "calls", "timestamp": ts,
                      "external_subscription_id": "sub_1"})
        return ev["lago_subscription_id"], ev["lago_customer_id"]

    # While the old one ran; after it, with nothing live: none.
    assert owner("in-old", "2021-06-01T00:00:00Z") == \
        (old["lago_id"], old["lago_customer_id"])
    assert owner("after-old", "2098-06-01T00:00:00Z") == (None, None)
    yesterday = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                              time.gmtime(time.time() - 86400))
    st, body = c.api("PUT", "/subscriptions/sub_1?status=pending",
                     {"subscription": {"subscription_at": yesterday}})
    assert st == 200 and body["subscription"]["status"] == "active", body
    # Now live: its own time, and a time before any start.
    assert owner("in-new", "2098-06-02T00:00:00Z") == \
        (new["lago_id"], new["lago_customer_id"])
    assert owner("before-all", "2019-01-01T00:00:00Z") == \
        (new["lago_id"], new["lago_customer_id"])
    assert owner("in-old-2", "2021-06-02T00:00:00Z") == \
        (old["lago_id"], old["lago_customer_id"])


@s.test
def repeat_is_answered_as_stored(t):
    c = Collector(t)
    subscribe(c)
    first = post(c, {"transaction_id": "tx-1", "code": "calls",
                     "external_subscription_id": "sub_1",
                     "timestamp": 1732464000, "properties": {"n": 1}})
    again = post(c, {"transaction_id": "tx-1", "code": "other",
                     "external_subscription_id": "sub_1",
                     "timestamp": 1732464999, "properties": {"n": 2}})
    same(again, first)
    st, body = c.api("POST", "/events/batch", {"events": [
        {"transaction_id": "tx-1", "code": "x",
         "external_subscription_id": "sub_1"},
        {"transaction_id": "tx-2", "code": "calls",
         "external_subscription_id": "sub_1", "timestamp": 1732464001},
        {"transaction_id": "tx-2", "code": "y",
         "external_subscription_id": "sub_1"}]})
    assert st == 200, body
    evs = body["events"]
    same(evs[0], first)
    same(evs[1], evs[2])
    assert evs[2]["code"] == "calls", evs
    st, body = c.api("GET", "/events/tx-1")
    same(body["event"], first)
    assert api_events_total(c) == 2
    # The same transaction id for another subscription is another event.
    other = post(c, {"transaction_id": "tx-1", "code": "calls",
                     "external_subscription_id": "sub_2"})
    assert other["lago_id"] != first["lago_id"], other
    assert api_events_total(c) == 3
    # GET answers the latest of them (Lago's key is per organization).
    st, body = c.api("GET", "/events/tx-1")
    same(body["event"], other)


@s.test
def single_validation(t):
    c = Collector(t)
    cases = [
        ({"event": {}}, {"transaction_id": ["value_is_mandatory"],
                         "external_subscription_id": ["value_is_mandatory"],
                         "code": ["value_is_mandatory"]}),
        ({"event": {"transaction_id": " ", "external_subscription_id": "s",
                    "code": "c"}},
         {"transaction_id": ["value_is_mandatory"]}),
        ({"event": {"transaction_id": "t", "external_subscription_id": "s",
                    "code": "c", "timestamp": "yesterday"}},
         {"timestamp": ["invalid_format"]}),
        ({"event": {"transaction_id": "t", "external_subscription_id": "s",
                    "code": "c", "timestamp": -5}},
         {"timestamp": ["invalid_format"]}),
        ({"event": {"transaction_id": 5, "external_subscription_id": "s",
                    "code": "c"}},
         {"transaction_id": ["invalid_type"]}),
        ({"event": {"transaction_id": "t" * 257,
                    "external_subscription_id": "s", "code": "c"}},
         {"transaction_id": ["value_is_too_long"]}),
        ({"event": {"transaction_id": "t", "external_subscription_id": "s",
                    "code": "c", "properties": {"a": {"b": 1}, "ok": 1,
                                                "l": [1]}}},
         {"properties.a": ["invalid_type"], "properties.l": ["invalid_type"]}),
        ({"event": {"transaction_id": "t", "external_subscription_id": "s",
                    "code": "c", "properties": "x"}},
         {"properties": ["invalid_type"]}),
        ({"event": {"transaction_id": "t", "external_subscription_id": "s",
                    "code": "c", "precise_total_amount_cents": "1,5"}},
         {"precise_total_amount_cents": ["invalid_format"]}),
        ({"event": "x"}, {"event": ["invalid_type"]}),
        ({"events": []}, {"event": ["value_is_mandatory"]}),
    ]
    for body, details in cases:
        same(c.api("POST", "/events", body), (422, invalid(details)))
    same(c.api("POST", "/events", raw=b'{"event": {'),
         (422, invalid({"body": ["invalid_json"]})))
    same(c.api("POST", "/events", raw=b'[1]'),
         (422, invalid({"body": ["invalid_type"]})))
    st, body = c.api("GET", "/events/t")
    assert st == 404, body
    assert api_events_total(c) == 0


@s.test
def batch(t):
    c = Collector(t)
    sub = subscribe(c)
    events = [{"transaction_id": "b-%d" % i, "code": "calls",
               "external_subscription_id": "sub_1",
               "timestamp": 1732464000 + i, "properties": {"i": i}}
              for i in range(3)]
    st, body = c.api("POST", "/events/batch", {"events": events})
    assert st == 200, body
    assert list(body) == ["events"], body
    assert len(body["events"]) == 3
    for i, ev in enumerate(body["events"]):
        assert list(ev) == KEYS, ev
        assert ev["transaction_id"] == "b-%d" % i, ev
        assert ev["timestamp"] == "2024-11-24T16:00:0%d.000Z" % i, ev
        assert ev["properties"] == {"i": str(i)}, ev
        assert ev["lago_subscription_id"] == sub["lago_id"], ev
        st, got = c.api("GET", "/events/b-%d" % i)
        same(got["event"], ev)
    assert api_events_total(c) == 3


@s.test
def batch_validation_is_all_or_nothing(t):
    c = Collector(t)
    good = {"transaction_id": "g-1", "code": "calls",
            "external_subscription_id": "sub_1"}
    st, body = c.api("POST", "/events/batch", {"events": [
        good,
        {"transaction_id": "g-2", "external_subscription_id": "sub_1"},
        dict(good, transaction_id="g-3"),
        {"transaction_id": "g-4", "code": "calls",
         "external_subscription_id": "sub_1", "timestamp": "soon",
         "properties": {"x": True}}]})
    same((st, body), (422, invalid({
        "1": {"code": ["value_is_mandatory"]},
        "3": {"timestamp": ["invalid_format"],
              "properties.x": ["invalid_type"]}})))
    for tx in ("g-1", "g-3"):
        same(c.api("GET", "/events/" + tx),
             (404, {"status": 404, "error": "Not Found",
                    "code": "event_not_found"}))
    same(c.api("POST", "/events/batch", {"events": []}),
         (422, invalid({"events": ["no_events"]})))
    same(c.api("POST", "/events/batch", {"events": {"a": 1}}),
         (422, invalid({"events": ["invalid_type"]})))
    same(c.api("POST", "/events/batch", {"event": good}),
         (422, invalid({"events": ["value_is_mandatory"]})))
    same(c.api("POST", "/events/batch", {"events": [good, "x"]}),
         (422, invalid({"1": {"event": ["invalid_type"]}})))
    many = [dict(good, transaction_id="m-%d" % i) for i in range(101)]
    same(c.api("POST", "/events/batch", {"events": many}),
         (422, invalid({"events": ["too_many_events"]})))
    st, body = c.api("POST", "/events/batch", {"events": many[:100]})
    assert st == 200 and len(body["events"]) == 100, st
    assert api_events_total(c) == 100


@s.test
def batch_cap_is_configurable(t):
    c = Collector(t, env={"TALLY_EVENTS_BATCH_MAX": "2"})
    evs = [{"transaction_id": "c-%d" % i, "code": "calls",
            "external_subscription_id": "s"} for i in range(3)]
    same(c.api("POST", "/events/batch", {"events": evs}),
         (422, invalid({"events": ["too_many_events"]})))
    st, body = c.api("POST", "/events/batch", {"events": evs[:2]})
    assert st == 200, body


@s.test
def timestamp_forms(t):
    c = Collector(t)
    forms = [(1732464000, "2024-11-24T16:00:00.000Z"),
             (1732464000.123, "2024-11-24T16:00:00.123Z"),
             ("1732464000", "2024-11-24T16:00:00.000Z"),
             ("1732464000.5", "2024-11-24T16:00:00.500Z"),
             ("2024-11-24T16:00:00Z", "2024-11-24T16:00:00.000Z"),
             ("2024-11-24T17:00:00.25+01:00", "2024-11-24T16:00:00.250Z")]
    for i, (ts, want) in enumerate(forms):
        ev = post(c, {"transaction_id": "ts-%d" % i, "code": "calls",
                      "external_subscription_id": "s", "timestamp": ts})
        assert ev["timestamp"] == want, (ts, ev)
    # No timestamp: the time of receipt.
    t0 = time.time()
    ev = post(c, {"transaction_id": "ts-now", "code": "calls",
                  "external_subscription_id": "s"})
    t1 = time.time()
    got = calendar.timegm(time.strptime(ev["timestamp"][:19],
                                        "%Y-%m-%dT%H:%M:%S"))
    assert int(t0) <= got <= t1, (t0, ev, t1)


@s.test
def api_key_required(t):
    c = Collector(t)
    ev = {"transaction_id": "k", "code": "calls",
          "external_subscription_id": "s"}
    for method, path, body in (("POST", "/events", {"event": ev}),
                               ("POST", "/events/batch", {"events": [ev]}),
                               ("GET", "/events/k", None)):
        same(c.api(method, path, body, key="wrong"),
             (401, {"status": 401, "error": "Unauthorized"}))
    assert api_events_total(c) == 0
    same(c.api("GET", "/events/k"),
         (404, {"status": 404, "error": "Not Found",
                "code": "event_not_found"}))


@s.test
def restart_keeps_events(t):
    c = Collector(t)
    ev = post(c, {"transaction_id": "keep", "code": "calls",
                  "external_subscription_id": "s", "timestamp": 1732464000,
                  "properties": {"gb": "3.2"}})
    assert c.stop() == 0
    c.start()
    st, body = c.api("GET", "/events/keep")
    assert st == 200, body
    same(body["event"], ev)
    # Still a repeat after the restart.
    same(post(c, {"transaction_id": "keep", "code": "calls",
                  "external_subscription_id": "s"}), ev)
    assert api_events_total(c) == 0


@s.test
def two_collectors_one_database(t):
    """Two collectors on one SQLite file: a repeat sent to the other one
    is still a repeat, and each finds the other's events by id."""
    a = Collector(t)
    b = Collector(t, db=a.db)
    subscribe(a)
    first = {}
    for i in range(40):
        c = (a, b)[i % 2]
        first[i] = post(c, {"transaction_id": "tx-%d" % i, "code": "calls",
                            "external_subscription_id": "sub_1",
                            "timestamp": 1732464000 + i})
    # Every repeat to the other collector, in a batch with one new event.
    for i in range(40):
        c = (b, a)[i % 2]
        st, body = c.api("POST", "/events/batch", {"events": [
            {"transaction_id": "tx-%d" % i, "code": "other",
             "external_subscription_id": "sub_1"},
            {"transaction_id": "new-%d" % i, "code": "calls",
             "external_subscription_id": "sub_1"}]})
        assert st == 200, body
        same(body["events"][0], first[i])
        st, got = c.api("GET", "/events/tx-%d" % i)
        assert st == 200, got
        same(got["event"], first[i])
    assert api_events_total(a) + api_events_total(b) == 80
    # Every event's key was looked up once, by one of them.
    lookups = [c.metric("tally_event_key_lookups_total") for c in (a, b)]
    assert sum(lookups) == 120 and min(lookups) > 0, lookups
    assert a.metric("tally_event_key_merges_total") == 0
    for c in (a, b):
        st, body = c.api("GET", "/events/new-39")
        assert st == 200 and body["event"]["code"] == "calls", body
        assert c.api("GET", "/events/none")[0] == 404


@s.test
def kill9_then_every_batch_again(t):
    """A client retries what it was not answered; after a kill -9 of the
    collector mid-stream and everything sent again, each event is held
    exactly once, with the lago_id it was first answered with."""
    c = Collector(t)
    subscribe(c)
    batches = [[{"transaction_id": "k-%d-%d" % (b, i), "code": "calls",
                 "external_subscription_id": "sub_1"} for i in range(100)]
               for b in range(200)]
    answered = {}

    def send(batch):
        st, body = c.api("POST", "/events/batch", {"events": batch})
        if st == 200:
            for e in body["events"]:
                answered.setdefault(e["transaction_id"], e["lago_id"])

    def first_pass():
        for batch in batches:
            try:
                send(batch)
            except OSError:
                return          # the collector is gone

    sender = threading.Thread(target=first_pass)
    sender.start()
    try:
        wait_until(lambda: len(answered) >= 1000, timeout=30,
                   what="1000 events answered")
        c.proc.kill9()
    finally:
        sender.join()
    assert 1000 <= len(answered) < 20000, len(answered)
    c.start()
    again = dict(answered)
    answered.clear()
    for batch in batches:
        send(batch)
    assert len(answered) == 20000
    for tx, lago_id in again.items():
        assert answered[tx] == lago_id, tx
    assert c.rows("SELECT count(*), count(DISTINCT transaction_id) "
                  "FROM events") == [(20000, 20000)]


if __name__ == "__main__":
    s.main()
