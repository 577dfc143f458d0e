// The status page's script (tools/admin_page.html), served as /app.js: the
// page's Content-Security-Policy allows no inline script.
"use strict";
const LABELS = {
  synced: () => "✓ Synced",
  retry_pending: (p, max) => "⚠ Retry pending (" + p.attempts + "/" + max + ")",
  failed: (p, max) => p.attempts >= max ? "✗ Failed (max attempts)" : "✗ Failed (rejected)",
  pending: () => "○ Not synced",
  skipped: () => "○ Skipped",
};
let maxAttempts = 5;
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };

function rel(ms) {
  if (!ms) return "";
  let s = Math.round((ms - Date.now()) / 1000), past = s < 0;
  s = Math.abs(s);
  const t = s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s"
          : Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return past ? "due now" : "in " + t;
}

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

async function loadConnections() {
  const stats = [];
  const all = await getJSON("/v1/connections");
  const conns = all.data;
  maxAttempts = all.max_attempts;
  const sel = $("connection-filter");
  if (sel.options.length === 1) {
    for (const c of conns) {
      const o = el("option", null, c.sink + " " + c.id);
      o.value = c.sink + "|" + c.id;
      sel.appendChild(o);
    }
  }
  const box = $("connections");
  box.replaceChildren();
  for (const c of conns) {
    const s = (await getJSON("/v1/connections/" + encodeURIComponent(c.id) + "/stats?sink=" + c.sink)).data;
    stats.push(s);
    const card = el("div", "conn");
    card.dataset.sink = c.sink;
    card.dataset.connection = c.id;
    card.appendChild(el("h2", null, c.sink + " " + c.id + " — " + s.products + " products"));
    const n = s.counts;
    for (const [cls, text] of [["synced", "✓ " + n.synced + " synced"],
                               ["retry_pending", "⚠ " + n.retry_pending + " retry pending"],
                               ["failed", "✗ " + n.failed + " failed"],
                               ["pending", "○ " + n.pending + " not synced"],
                               ["skipped", "○ " + n.skipped + " skipped"]]) {
      const span = el("span", "count " + cls, text);
      span.dataset.status = cls;
      card.appendChild(span);
    }
    if (s.paused) card.appendChild(el("div", "paused", "PAUSED (" + s.paused.kind + "): " + s.paused.reason));
    if (s.oldest_pending) card.appendChild(el("div", "muted", "oldest out of date: " + s.oldest_pending.product));
    box.appendChild(card);
  }
  return stats;
}

async function loadProducts() {
  const params = new URLSearchParams({ status: $("status-filter").value, limit: "500" });
  const conn = $("connection-filter").value;
  if (conn) { const [s, c] = conn.split("|"); params.set("sink", s); params.set("connection", c); }
  const q = $("filter").value.trim();
  if (q) params.set("q", q);
  const res = await getJSON("/v1/products?" + params);
  const body = $("products");
  body.replaceChildren();
  for (const p of res.data) {
    const tr = el("tr");
    tr.dataset.product = p.product;
    tr.dataset.sink = p.sink;
    tr.dataset.connection = p.connection;
    tr.dataset.status = p.status;
    tr.appendChild(el("td", null, p.product + (p.name ? " — " + p.name : "") + (p.sku ? " (" + p.sku + ")" : "")));
    tr.appendChild(el("td", null, p.sink + " " + p.connection));
    tr.appendChild(el("td", p.status, (LABELS[p.status] || LABELS.pending)(p, maxAttempts)));
    tr.appendChild(el("td", null, p.status === "retry_pending" ? rel(p.next_attempt) : ""));
    tr.appendChild(el("td", "err", p.last_error_message || p.skip_reason || ""));
    const td = el("td");
    const b = el("button", "reset", "Reset");
    b.type = "button";
    b.addEventListener("click", () => reset({ products: [p.product], sink: p.sink, connection: p.connection }));
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $("summary").textContent = res.matched + " matching product" + (res.matched === 1 ? "" : "s") +
    (res.matched > res.data.length ? " (first " + res.data.length + " shown)" : "");
}

async function reset(what) {
  const token = $("token").value;
  if (!token) { say("Enter the admin token (admin.token) to reset products.", true); return; }
  sessionStorage.setItem("catalogsync-token", token);
  try {
    const r = await fetch("/v1/reset", { method: "POST", headers: { "Content-Type": "application/json",
      Authorization: "Bearer " + token }, body: JSON.stringify(what) });
    const body = await r.json();
    if (!r.ok) { say("Reset refused: " + (body.error || r.status), true); return; }
    say(body.queued + " reset and queued for an immediate retry" +
        (body.excluded ? ", " + body.excluded + " excluded" : "") +
        (body.no_snapshot ? ", " + body.no_snapshot + " without a stored version" : ""), false);
    await refresh();
  } catch (e) { say("Reset failed: " + e.message, true); }
}

let timer = null;
async function refresh() {
  try { await loadConnections(); await loadProducts(); }
  catch (e) { say("Cannot load the status: " + e.message, true); }
  document.body.dataset.loaded = String(Date.now());
}

$("status-filter").addEventListener("change", refresh);
$("connection-filter").addEventListener("change", refresh);
$("filter").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
$("reset-all").addEventListener("click", () => {
  const conn = $("connection-filter").value, what = { failed: true };
  if (conn) { const [s, c] = conn.split("|"); what.sink = s; what.connection = c; }
  reset(what);
});
$("token").value = sessionStorage.getItem("catalogsync-token") || "";
refresh();
setInterval(refresh, 15000);
