#!/bin/sh
# The demo behind `make demo`: a collector and an agent on the embedded
# SQLite default, in a temp dir, on free loopback ports.  It creates a
# customer, two billable metrics, a plan and a subscription through the
# Lago-compatible API, sends a few thousand events through the agent (HTTP
# batch endpoint, Unix socket and CLI), waits until the agent has drained
# to the collector, and prints the usage the collector holds.  Everything
# it starts, it stops by PID.
set -eu

BIN=$(cd "$(dirname "$0")/../bin" && pwd)
DIR=$(mktemp -d /tmp/tally-demo.XXXXXX)
KEY=demo-api-key
PIDS=""

stop_all() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$DIR"
}
trap stop_all EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {	# URL: up to 10 s
	i=0
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 200 ] || { echo "demo: $1 never answered" >&2; exit 1; }
		sleep 0.05
	done
}

api() {		# METHOD PATH [JSON]
	curl -fsS -X "$1" "http://127.0.0.1:$CPORT/api/v1$2" \
		-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
		${3:+-d "$3"}
}

CPORT=$(free_port)
APORT=$(free_port)
echo "== collector on 127.0.0.1:$CPORT, agent on 127.0.0.1:$APORT, data in $DIR"

"$BIN/tally-collector" --db "sqlite:$DIR/collector.db" \
	--listen "127.0.0.1:$CPORT" --api-key "$KEY" 2>"$DIR/collector.log" &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$CPORT/healthz"
TOKEN=$("$BIN/tally-collector" --db "sqlite:$DIR/collector.db" agents add demo-agent)

echo "== billing objects through the Lago API"
api POST /customers '{"customer":{"external_id":"acme","name":"Acme Corp","currency":"USD"}}' >/dev/null
GB=$(api POST /billable_metrics '{"billable_metric":{"name":"Storage","code":"storage_gb","aggregation_type":"sum_agg","field_name":"gb","filters":[{"key":"region","values":["eu","us"]}]}}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["billable_metric"]["lago_id"])')
CALLS=$(api POST /billable_metrics '{"billable_metric":{"name":"API calls","code":"api_calls","aggregation_type":"count_agg"}}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["billable_metric"]["lago_id"])')
api POST /plans "{\"plan\":{\"name\":\"Startup\",\"code\":\"startup\",\"interval\":\"monthly\",
	\"amount_cents\":4900,\"amount_currency\":\"USD\",\"pay_in_advance\":false,\"charges\":[
	{\"billable_metric_id\":\"$GB\",\"charge_model\":\"standard\",\"properties\":{\"amount\":\"0.25\"}},
	{\"billable_metric_id\":\"$CALLS\",\"charge_model\":\"graduated\",\"properties\":{\"graduated_ranges\":[
	  {\"from_value\":0,\"to_value\":1000,\"per_unit_amount\":\"0\",\"flat_amount\":\"0\"},
	  {\"from_value\":1001,\"to_value\":null,\"per_unit_amount\":\"0.002\",\"flat_amount\":\"0\"}]}}]}}" >/dev/null
MONTH=$(date -u +%Y-%m-01T00:00:00Z)
api POST /subscriptions "{\"subscription\":{\"external_customer_id\":\"acme\",
	\"plan_code\":\"startup\",\"external_id\":\"acme-main\",\"subscription_at\":\"$MONTH\"}}" >/dev/null
echo "   customer acme, metrics storage_gb and api_calls, plan startup, subscription acme-main"

"$BIN/tally-agent" --id demo-agent --data-dir "$DIR/agent" --listen "127.0.0.1:$APORT" \
	--collector "http://127.0.0.1:$CPORT" --token "$TOKEN" 2>"$DIR/agent.log" &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$APORT/healthz"
sleep 0.3	# the agent's first catalog fetch

echo "== 4,000 events through the agent"
NOW=$(date +%s)
python3 - "$APORT" "$NOW" <<'EOF'
import json, sys, urllib.request
port, now = sys.argv[1], int(sys.argv[2])
for b in range(4):
    events = []
    for i in range(1000):
        n = b * 1000 + i
        if n % 2:
            events.append({"transaction_id": "call-%d" % n, "external_subscription_id": "acme-main",
                           "code": "api_calls", "timestamp": now - n % 600})
        else:
            events.append({"transaction_id": "gb-%d" % n, "external_subscription_id": "acme-main",
                           "code": "storage_gb", "timestamp": now - n % 600,
                           "properties": {"gb": "0.%02d" % (n % 100), "region": "eu" if n % 4 else "us"}})
    req = urllib.request.Request("http://127.0.0.1:%s/api/v1/events/batch" % port,
                                 data=json.dumps({"events": events}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
EOF
"$BIN/tally-agent" --listen "127.0.0.1:$APORT" send --code storage_gb \
	--subscription acme-main --transaction-id cli-1 gb=12.5 region=eu >/dev/null
echo "   4,000 through POST /api/v1/events/batch, 1 through tally-agent send"

i=0
until curl -fsS "http://127.0.0.1:$APORT/v1/status" | grep -q '"buffered_events":0,'; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "demo: the agent did not drain" >&2; exit 1; }
	sleep 0.05
done
echo "== agent status after the drain"
curl -fsS "http://127.0.0.1:$APORT/v1/status"; echo

echo "== usage held by the collector"
python3 - "$DIR/collector.db" <<'EOF'
import sqlite3, sys
from decimal import Decimal
con = sqlite3.connect(sys.argv[1])
rows = con.execute("SELECT code, filters, SUM(count), GROUP_CONCAT(sum, ' ') FROM usage "
                   "GROUP BY code, filters ORDER BY code, filters").fetchall()
print("   %-12s %-20s %8s %12s" % ("metric", "filters", "events", "sum"))
for code, filters, count, sums in rows:
    total = sum((Decimal(s) for s in (sums or "").split()), Decimal(0))
    print("   %-12s %-20s %8d %12s" % (code, filters, count,
                                        format(total.normalize(), "f") if sums else "-"))
recs = con.execute("SELECT COUNT(*) FROM usage").fetchone()[0]
batches, events = con.execute("SELECT batches, events_received FROM agents").fetchone()
print("   %d events arrived in %d batches as %d pre-aggregated records" % (events, batches, recs))
EOF

echo "== billing the period (bill --at the start of next month)"
NEXT=$(python3 -c 'import datetime as d; t=d.datetime.now(d.timezone.utc); print((t.replace(day=28)+d.timedelta(days=4)).replace(day=1).strftime("%Y-%m-%dT00:00:00Z"))')
"$BIN/tally-collector" --db "sqlite:$DIR/collector.db" bill --at "$NEXT" 2>/dev/null
api GET "/invoices?external_customer_id=acme" | python3 -c '
import json, sys
inv = json.load(sys.stdin)["invoices"][0]
cur = inv["currency"]
money = lambda c: "%d.%02d %s" % (c // 100, c % 100, cur)
print("   invoice %s (%s), issued %s" % (inv["number"], inv["status"], inv["issuing_date"]))
for f in inv["fees"]:
    it = f["item"]
    name = it["name"] + (" %s" % json.dumps(it["filters"]) if it.get("filters") else "")
    print("   %-34s %10s units %14s" % (name, f["units"], money(f["amount_cents"])))
print("   %-34s %10s       %14s" % ("total", "", money(inv["total_amount_cents"])))
print("   printable: /api/v1/invoices/%s.html" % inv["lago_id"])
'
