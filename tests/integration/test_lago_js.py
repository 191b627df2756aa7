"""Lago's official JavaScript client (npm lago-javascript-client, pinned in
tests/integration/js/package-lock.json), unchanged, against the collector:
customer, billable metric, plan with a graduated charge, subscription, and
events single, repeated and in a batch."""
import json
import os
import shutil
import sqlite3
import subprocess

import datetime

from harness import COLLECTOR, Collector, Suite, run

s = Suite("lago_js")
JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")


def npm_ready():
    if os.path.isdir(os.path.join(JS, "node_modules", "lago-javascript-client")):
        return
    assert shutil.which("npm"), "npm is needed (make deps installs nodejs and npm)"
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=JS, check=True, timeout=300)


def client(col, scenario):
    r = subprocess.run(["node", "lago_client.mjs", col.url, col.api_key, scenario],
                       cwd=JS, capture_output=True, timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr.decode())
    return json.loads(out)


@s.test
def client_drives_the_collector(t):
    npm_ready()
    col = Collector(t)
    out = client(col, "setup")
    assert out["customer"]["external_id"] == "js-cust"
    assert out["customer"]["currency"] == "USD"
    assert out["metric"]["aggregation_type"] == "sum_agg"
    assert out["metric"]["field_name"] == "gb"
    charge = out["plan"]["charges"][0]
    assert charge["charge_model"] == "graduated"
    assert charge["lago_billable_metric_id"] == out["metric"]["lago_id"]
    assert charge["properties"]["graduated_ranges"][0]["per_unit_amount"] == "0.5"
    assert out["subscription"]["external_id"] == "js-sub"
    assert out["subscription"]["status"] == "active"
    assert out["subscription"]["plan_code"] == "js_plan"
    assert out["event"]["transaction_id"] == "js-tx-1"
    assert out["event"]["properties"] == {"gb": "0.1"}
    assert out["event"]["lago_subscription_id"] == out["subscription"]["lago_id"]
    # The repeat is the success it is, and the same stored event.
    assert out["repeat"]["lago_id"] == out["event"]["lago_id"]
    assert [e["transaction_id"] for e in out["batch"]] == ["js-tx-2", "js-tx-3", "js-tx-4"]
    assert out["found"]["transaction_id"] == "js-tx-3"
    assert out["customer_again"]["lago_id"] == out["customer"]["lago_id"]
    assert out["plan_again"]["lago_id"] == out["plan"]["lago_id"]
    assert out["subscription_again"]["lago_id"] == out["subscription"]["lago_id"]
    con = sqlite3.connect(col.db)
    rows = con.execute("SELECT transaction_id, properties FROM events "
                       "ORDER BY transaction_id").fetchall()
    con.close()
    assert rows == [("js-tx-1", '{"gb":"0.1"}'), ("js-tx-2", '{"gb":"0.2"}'),
                    ("js-tx-3", '{"gb":"0.2"}'), ("js-tx-4", '{"gb":"0.2"}')], rows


@s.test
def client_reads_usage_and_invoices(t):
    npm_ready()
    col = Collector(t)
    client(col, "setup")
    # 0.1 + 3 x 0.2 = 0.7 GB, all in the first tier (0-10 at $0.50, flat
    # $1): 0.7 x 0.50 + 1 = $1.35.
    out = client(col, "usage")
    usage = out["usage"]
    assert usage["currency"] == "USD" and usage["amount_cents"] == 135, usage
    (charge,) = usage["charges_usage"]
    assert charge["units"] == "0.7" and charge["events_count"] == 4, charge
    assert charge["charge"]["charge_model"] == "graduated", charge
    assert charge["billable_metric"]["code"] == "js_storage"
    assert charge["billable_metric"]["aggregation_type"] == "sum_agg"
    assert out["invoices"] == [] and out["meta"]["total_count"] == 0
    # Bill the month: the client lists and reads the invoice.
    nxt = (datetime.datetime.now(datetime.timezone.utc).replace(day=28) +
           datetime.timedelta(days=4)).replace(day=1)
    code, _, err = run([COLLECTOR, "--db", "sqlite:" + col.db, "bill", "--at",
                        nxt.strftime("%Y-%m-%dT00:00:00Z")], env=col.env)
    assert code == 0, err
    out = client(col, "usage")
    (inv,) = out["invoices"]
    assert inv["status"] == "finalized" and inv["number"] == "TLY-000001", inv
    assert out["invoice"]["lago_id"] == inv["lago_id"]
    charge_fee = [f for f in inv["fees"] if f["item"]["type"] == "charge"][0]
    assert charge_fee["amount_cents"] == 135 and charge_fee["units"] == "0.7", charge_fee


@s.test
def client_sees_lago_errors(t):
    npm_ready()
    col = Collector(t)
    out = client(col, "badKey")
    assert out == {"status": 401, "body": {"status": 401, "error": "Unauthorized"}}, out


if __name__ == "__main__":
    s.main()
