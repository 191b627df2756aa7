// Drive tally-collector with Lago's official JavaScript client, unchanged.
// Usage: node lago_client.mjs BASE_URL API_KEY SCENARIO
// Prints one JSON document with what the client got back; exits 1 with
// the error body when a call fails.
import { Client, getLagoError } from "lago-javascript-client";

const [baseUrl, apiKey, scenario] = process.argv.slice(2);
const client = Client(apiKey, { baseUrl: baseUrl + "/api/v1" });

async function setup() {
  const out = {};
  const c = await client.customers.createCustomer({
    customer: { external_id: "js-cust", name: "JS Customer", currency: "USD" },
  });
  out.customer = c.data.customer;
  const m = await client.billableMetrics.createBillableMetric({
    billable_metric: {
      name: "Storage", code: "js_storage", aggregation_type: "sum_agg",
      field_name: "gb", recurring: false,
    },
  });
  out.metric = m.data.billable_metric;
  const p = await client.plans.createPlan({
    plan: {
      name: "JS Plan", code: "js_plan", interval: "monthly", amount_cents: 1000,
      amount_currency: "USD", pay_in_advance: false,
      charges: [{
        billable_metric_id: out.metric.lago_id, charge_model: "graduated",
        properties: {
          graduated_ranges: [
            { from_value: 0, to_value: 10, per_unit_amount: "0.5", flat_amount: "1" },
            { from_value: 11, to_value: null, per_unit_amount: "0.25", flat_amount: "0" },
          ],
        },
      }],
    },
  });
  out.plan = p.data.plan;
  const s = await client.subscriptions.createSubscription({
    subscription: {
      external_customer_id: "js-cust", plan_code: "js_plan",
      external_id: "js-sub", billing_time: "calendar",
    },
  });
  out.subscription = s.data.subscription;
  const e = await client.events.createEvent({
    event: {
      transaction_id: "js-tx-1", external_subscription_id: "js-sub",
      code: "js_storage", timestamp: Math.floor(Date.now() / 1000),
      properties: { gb: 0.1 },
    },
  });
  out.event = e.data.event;
  const again = await client.events.createEvent({
    event: {
      transaction_id: "js-tx-1", external_subscription_id: "js-sub",
      code: "js_storage", properties: { gb: 0.1 },
    },
  });
  out.repeat = again.data.event;
  const b = await client.events.createBatchEvents({
    events: [2, 3, 4].map((i) => ({
      transaction_id: "js-tx-" + i, external_subscription_id: "js-sub",
      code: "js_storage", properties: { gb: 0.2 },
    })),
  });
  out.batch = b.data.events;
  out.found = (await client.events.findEvent("js-tx-3")).data.event;
  out.customer_again = (await client.customers.findCustomer("js-cust")).data.customer;
  out.plan_again = (await client.plans.findPlan("js_plan")).data.plan;
  out.subscription_again =
    (await client.subscriptions.findSubscription("js-sub")).data.subscription;
  return out;
}

async function badKey() {
  const bad = Client("wrong-key", { baseUrl: baseUrl + "/api/v1" });
  try {
    await bad.customers.findCustomer("js-cust");
    return { unexpected: "success" };
  } catch (err) {
    return { status: err.status, body: await getLagoError(err) };
  }
}

async function usage() {
  const u = await client.customers.findCustomerCurrentUsage("js-cust", {
    external_subscription_id: "js-sub",
  });
  const list = await client.invoices.findAllInvoices({ external_customer_id: "js-cust" });
  const one = list.data.invoices.length
    ? (await client.invoices.findInvoice(list.data.invoices[0].lago_id)).data.invoice
    : null;
  return { usage: u.data.customer_usage, invoices: list.data.invoices, meta: list.data.meta,
           invoice: one };
}

const scenarios = { setup, badKey, usage };
try {
  const result = await scenarios[scenario]();
  console.log(JSON.stringify(result));
} catch (err) {
  let body = err;
  try { body = await getLagoError(err); } catch (_) { body = String(err); }
  console.log(JSON.stringify({ error: body, status: err?.status }));
  process.exit(1);
}
