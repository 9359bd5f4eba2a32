// strata dashboard: polls /dashboard/api/summary with the API key kept in
// sessionStorage and renders it. Every figure comes from the summary; data
// is only ever written with textContent.
const REFRESH_MS = 5000;
const KEY = "strata-dashboard-key";
const $ = (id) => document.getElementById(id);

let previous = null; // the last summary, for per-second rates
let timer = null;

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 6 });

function num(v) {
  return int.format(v);
}

function seconds(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1) return (v * 1000).toFixed(v < 0.01 ? 2 : 1) + " ms";
  return v.toFixed(2) + " s";
}

function bytes(v) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i ? v.toFixed(1) : v) + " " + units[i];
}

function rate(now, before, dt) {
  if (before === undefined || !(dt > 0)) return "–";
  return Math.max(0, (now - before) / dt).toFixed(2) + "/s";
}

// short shows the resource part of an ARN ("imported-model/abc"); the
// cell's title holds the whole ARN.
function short(name) {
  if (!name.startsWith("arn:")) return name || "(none)";
  return name.split(":").slice(5).join(":");
}

function cell(tr, text, field, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (field) td.dataset.field = field;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function nameCell(tr, name, field) {
  cell(tr, short(name), field).title = name;
}

function fill(id, rows, render, empty) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = body.insertRow();
    const td = cell(tr, empty, "", "empty");
    td.colSpan = $(id).querySelectorAll("thead th").length;
    return;
  }
  for (const r of rows) {
    const tr = body.insertRow();
    render(tr, r);
  }
}

function render(s) {
  const dt = previous ? (Date.parse(s.generated_at) - Date.parse(previous.generated_at)) / 1000 : 0;
  const pt = previous?.totals ?? {};
  for (const [k, id] of [["invocations", "t-invocations"], ["errors", "t-errors"], ["throttles", "t-throttles"], ["tokens_in", "t-tokens-in"], ["tokens_out", "t-tokens-out"]]) {
    $(id).textContent = num(s.totals[k]);
    $(id + "-rate").textContent = rate(s.totals[k], pt[k], dt);
  }
  const before = new Map((previous?.invocations ?? []).map((r) => [r.model + "\n" + r.api, r.invocations]));
  fill("invocations", s.invocations, (tr, r) => {
    tr.dataset.model = r.model;
    tr.dataset.api = r.api;
    nameCell(tr, r.model, "model");
    cell(tr, r.api, "api");
    cell(tr, num(r.invocations), "invocations", "n");
    cell(tr, rate(r.invocations, before.get(r.model + "\n" + r.api), dt), "rate", "n");
    cell(tr, num(r.errors), "errors", r.errors ? "n bad" : "n");
    cell(tr, Object.entries(r.error_types).map(([t, n]) => `${t} ${num(n)}`).join(", ") || "–", "error-types");
    cell(tr, num(r.throttles), "throttles", r.throttles ? "n bad" : "n");
    cell(tr, seconds(r.latency.mean), "latency-mean", "n");
    cell(tr, seconds(r.latency.p50), "latency-p50", "n");
    cell(tr, seconds(r.latency.p95), "latency-p95", "n");
    cell(tr, seconds(r.time_to_first_token.p50), "ttft-p50", "n");
    cell(tr, seconds(r.time_to_first_token.p95), "ttft-p95", "n");
    cell(tr, num(r.tokens_in), "tokens-in", "n");
    cell(tr, num(r.tokens_out), "tokens-out", "n");
  }, "No invocations yet.");
  fill("provisioned", s.provisioned, (tr, r) => {
    nameCell(tr, r.provisioned_model, "provisioned-model");
    nameCell(tr, r.model, "model");
    const td = cell(tr, "", "utilization");
    const m = document.createElement("meter");
    m.min = 0;
    m.max = 1;
    m.high = 0.9;
    m.value = r.utilization;
    td.append(m, " " + (r.utilization * 100).toFixed(0) + "%");
  }, "No provisioned throughput.");
  fill("models", s.models, (tr, r) => {
    nameCell(tr, r.model, "model");
    cell(tr, num(r.loads), "loads", "n");
    cell(tr, num(r.load_failures), "load-failures", r.load_failures ? "n bad" : "n");
    cell(tr, seconds(r.load_time.p50), "load-p50", "n");
    cell(tr, num(r.evictions), "evictions", "n");
    cell(tr, num(r.copies), "copies", "n");
    cell(tr, num(r.in_flight), "in-flight", "n");
    cell(tr, bytes(r.resident_bytes), "memory", "n");
    cell(tr, num(r.output_findings), "output-findings", "n");
  }, "No model loaded yet.");
  fill("tiers", s.tiers, (tr, r) => {
    tr.dataset.tier = r.tier;
    cell(tr, r.tier, "tier");
    cell(tr, num(r.queries), "queries", "n");
    cell(tr, num(r.escalated), "escalated", "n");
    cell(tr, num(r.failed), "failed", r.failed ? "n bad" : "n");
    cell(tr, usd.format(r.cost_usd), "cost", "n");
    cell(tr, r.queries ? usd.format(r.cost_usd / r.queries) : "–", "cost-per-query", "n");
    cell(tr, seconds(r.latency.mean), "latency-mean", "n");
    cell(tr, seconds(r.latency.p50), "latency-p50", "n");
    cell(tr, seconds(r.latency.p95), "latency-p95", "n");
  }, "No support queries yet.");
  previous = s;
}

function showKeyForm(message) {
  clearTimeout(timer);
  $("key-form").hidden = false;
  $("forget").hidden = true;
  $("status").textContent = message;
  $("key").focus();
}

async function refresh() {
  const key = sessionStorage.getItem(KEY);
  if (!key) return showKeyForm("Enter an API key to load metrics.");
  try {
    const resp = await fetch("/dashboard/api/summary", { headers: { Authorization: "Bearer " + key }, cache: "no-store" });
    const body = await resp.json();
    if (!resp.ok) {
      if (resp.status === 401) sessionStorage.removeItem(KEY);
      if (resp.status === 401 || resp.status === 403) return showKeyForm(`${body.type}: ${body.error}`);
      $("status").textContent = `Refresh failed: ${body.type}: ${body.error}`;
    } else {
      render(body);
      $("data").hidden = false;
      $("key-form").hidden = true;
      $("forget").hidden = false;
      $("status").textContent = `Account ${body.account} · updated ${new Date(body.generated_at).toLocaleTimeString()} · every ${REFRESH_MS / 1000} s`;
    }
  } catch (e) {
    $("status").textContent = "Refresh failed: " + e.message;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("key").value.trim();
  $("key").value = "";
  if (!key) return;
  sessionStorage.setItem(KEY, key);
  previous = null;
  clearTimeout(timer);
  refresh();
});

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  previous = null;
  $("data").hidden = true;
  showKeyForm("Key forgotten. Enter an API key to load metrics.");
});

refresh();
