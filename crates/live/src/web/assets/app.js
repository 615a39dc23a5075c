// biotwin live QA page. No dependencies. Data is put into the page only
// through textContent (never as HTML), except the server-rendered plots,
// which are parsed as SVG documents and have no script.
"use strict";

const KEY = "biotwin.token";
let selected = null;
let me = null;        // GET /api/me: who is signed in and what the role may do
let signing = null;   // the alert being signed
const ROLE_LABEL = { sponsor_viewer: "sponsor viewer", qa_reviewer: "QA reviewer",
  process_engineer: "process engineer", administrator: "administrator" };

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmt(v) {
  if (v === null || v === undefined || !isFinite(v)) return "-";
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
}

// Latest forecast per batch and human CQA labels (from the server's charts).
let latestByBatch = new Map();
const labels = new Map();
function human(name) { return labels.get(name) || name; }

// Severity of an open alert from the latest forecast's P(in spec): critical
// when out of specification is more likely than not.
function severity(pNow) {
  return pNow !== null && pNow !== undefined && pNow < 0.5 ? "critical" : "warning";
}

function pNowOf(a) {
  const l = latestByBatch.get(a.batch_id);
  if (!l) return null;
  const c = l.cqas.find(c => c.name === a.cqa);
  return c && c.p_in_spec !== undefined ? c.p_in_spec : null;
}

function pct(p) { return p === null || p === undefined ? "-" : (100 * p).toFixed(1) + " %"; }

// A token handed over in the fragment goes to session storage and leaves
// the address bar (fragments are never sent to the server).
function takeFragmentToken() {
  const m = /^#token=(.+)$/.exec(window.location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", window.location.pathname);
  }
}

class Unauthorized extends Error {}

async function api(path, options) {
  const token = sessionStorage.getItem(KEY);
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, opts);
  if (r.status === 401) throw new Unauthorized("token rejected");
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

function showLogin(message) {
  me = null;
  $("app").hidden = true;
  $("session").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

function specText(c) {
  const lo = c.lower_spec, hi = c.upper_spec;
  if (lo !== null && lo !== undefined && hi !== null && hi !== undefined) return fmt(lo) + " - " + fmt(hi);
  if (lo !== null && lo !== undefined) return ">= " + fmt(lo);
  if (hi !== null && hi !== undefined) return "<= " + fmt(hi);
  return "none";
}

function renderBatches(list) {
  const body = $("batches").tBodies[0];
  body.replaceChildren();
  if (list.length === 0) {
    const tr = el("tr");
    const td = el("td", "No batches.");
    td.colSpan = 6;
    tr.append(td);
    body.append(tr);
  }
  for (const b of list) {
    const tr = el("tr", null, "selectable");
    tr.dataset.batch = b.batch_id;
    if (b.batch_id === selected) tr.classList.add("selected");
    tr.append(
      el("td", b.batch_id),
      el("td", b.unit),
      el("td", b.finished ? "finished" : "in progress"),
      el("td", b.latest ? fmt(b.latest.time_s / 3600) : "-"),
      el("td", b.latest ? utc(b.latest.created_unix_s) : "-"),
      el("td", b.n_predictions),
      el("td", b.open_alerts, b.open_alerts > 0 ? "bad" : ""));
    tr.addEventListener("click", () => { selected = b.batch_id; refresh(); });
    body.append(tr);
  }
}

async function renderDetail() {
  if (selected === null) { $("detail").hidden = true; return; }
  const r = await api("/api/batches/" + encodeURIComponent(selected));
  const d = await r.json();
  const b = d.batch;
  $("detail").hidden = false;
  $("detail-id").textContent = b.batch_id;
  const latest = b.latest;
  $("detail-meta").textContent = "Unit " + b.unit + ", " + (b.finished ? "finished" : "in progress") +
    (latest ? ", latest forecast at " + fmt(latest.time_s / 3600) + " h by " + latest.model_id : ", no forecast yet");
  renderFreshness(b, d.last_data_unix_s);
  await renderTrajectory(b);
  renderRecipe(b, d.recipe_markers, d.recipe_known);
  const body = $("cqas").tBodies[0];
  body.replaceChildren();
  const plots = $("plots");
  plots.replaceChildren();
  if (!latest) return;
  for (const c of latest.cqas) {
    const url = "/api/batches/" + encodeURIComponent(b.batch_id) + "/plot/" + encodeURIComponent(c.name) + ".svg";
    const text = await (await api(url)).text();
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg && svg.nodeName === "svg") {
      if (svg.getAttribute("data-label")) labels.set(c.name, svg.getAttribute("data-label"));
      plots.append(document.importNode(svg, true));
    }
  }
  // Red where this batch has an alert on the CQA (the site's threshold).
  const alerted = new Set(d.alerts.map(a => a.cqa));
  for (const c of latest.cqas) {
    const tr = el("tr");
    const p = c.p_in_spec;
    tr.append(el("td", human(c.name)), el("td", fmt(c.mean)),
      el("td", fmt(c.p05) + " - " + fmt(c.p95)), el("td", specText(c)),
      el("td", pct(p), p === null || p === undefined ? "" : (alerted.has(c.name) || p < 0.9 ? "bad" : "good")));
    body.append(tr);
  }
}

// Data freshness: when the last reading arrived and how long ago; for a
// batch in progress, data older than 2 h (the example site's online tags go
// stale after 2 h) is flagged.
const STALE_S = 7200;
function age(s) {
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}

function renderFreshness(b, lastData) {
  const p = $("detail-fresh");
  p.className = "";
  if (lastData === null || lastData === undefined) {
    p.textContent = "Last data received: none yet.";
    if (!b.finished) p.className = "stale";
    return;
  }
  const ago = Date.now() / 1000 - lastData;
  let text = "Last data received: " + utc(lastData) + " (" + age(Math.max(0, ago)) + " ago)";
  if (b.latest) text += "; latest forecast made " + utc(b.latest.created_unix_s);
  if (!b.finished && ago > STALE_S) {
    text += ". STALE: nothing received for more than " + age(STALE_S) + " while the batch is in progress.";
    p.className = "stale";
  } else {
    text += b.finished ? ". Batch finished." : ". Data current.";
  }
  p.textContent = text;
}

// The server-rendered trajectory chart, parsed as an SVG document (no script).
async function renderTrajectory(b) {
  const box = $("trajectory");
  const url = "/api/batches/" + encodeURIComponent(b.batch_id) + "/trajectory.svg";
  const text = await (await api(url)).text();
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  box.replaceChildren();
  if (svg && svg.nodeName === "svg") box.append(document.importNode(svg, true));
}

function renderRecipe(b, markers, known) {
  const body = $("recipe").tBodies[0];
  body.replaceChildren();
  if (!markers || markers.length === 0) {
    const tr = el("tr");
    const td = el("td", markers ? "No feeds or shifts recorded for this batch's recipe." :
      known === false ? "Recipe not known to this batch's predictor." :
      "Not recorded for this batch (started before recipes were recorded).");
    td.colSpan = 3;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const m of markers) {
    const tr = el("tr");
    tr.dataset.kind = m.kind;
    tr.append(el("td", utc(b.start_unix_s + m.time_s)), el("td", (m.time_s / 86400).toFixed(2)),
      el("td", m.label));
    body.append(tr);
  }
}

function renderAlerts(list) {
  const body = $("alerts").tBodies[0];
  body.replaceChildren();
  if (list.length === 0) {
    const tr = el("tr");
    const td = el("td", "No alerts.");
    td.colSpan = 8;
    tr.append(td);
    body.append(tr);
  }
  for (const a of list) {
    const tr = el("tr");
    const ack = el("td");
    if (a.signature) {
      ack.textContent = signatureText(a.signature);
      ack.className = "signature";
    } else if (a.acknowledged_by) {
      ack.textContent = "by " + a.acknowledged_by + " (before signatures; no signature)";
    } else if (me && me.may.includes("sign_alert")) {
      const btn = el("button", "Acknowledge and sign...");
      btn.type = "button";
      btn.className = "ack";
      btn.addEventListener("click", () => openSign(a));
      ack.append(btn);
    } else {
      ack.textContent = "open (a QA reviewer or process engineer signs)";
    }
    const pNow = pNowOf(a);
    const open = !a.signature && !a.acknowledged_by;
    tr.append(el("td", a.batch_id), el("td", human(a.cqa)),
      el("td", open ? severity(pNow) : "acknowledged", open ? "sev-" + severity(pNow) : ""),
      el("td", pct(pNow), pNow !== null && pNow < a.threshold ? "bad" : "good"),
      el("td", pct(a.p_in_spec), "bad"),
      el("td", pct(a.threshold)), el("td", fmt(a.first_predicted_s / 3600)), ack);
    body.append(tr);
  }
}

// The banner at the top: every unacknowledged alert, the most severe first.
function renderBanner(list) {
  const open = list.filter(a => !a.signature && !a.acknowledged_by)
    .map(a => ({ a: a, p: pNowOf(a) }))
    .sort((x, y) => (x.p === null ? 1 : x.p) - (y.p === null ? 1 : y.p));
  $("banner").hidden = open.length === 0;
  $("banner-count").textContent = "(" + open.length + ")";
  const ul = $("banner-list");
  ul.replaceChildren();
  for (const { a, p } of open) {
    const sev = severity(p);
    const li = el("li", null, "sev-" + sev);
    li.append(el("b", sev.toUpperCase()), document.createTextNode(
      " batch " + a.batch_id + ", " + human(a.cqa) + ": P(in spec) " + pct(p) + " now (" +
      pct(a.p_in_spec) + " when raised at " + fmt(a.first_predicted_s / 3600) + " h; alert below " +
      pct(a.threshold) + ")"));
    ul.append(li);
  }
}

function signatureText(sig) {
  return sig.meaning + " by " + sig.full_name + " (" + sig.user_id + ", " +
    (ROLE_LABEL[sig.role] || sig.role) + ") at " + sig.signed_at + ": " + sig.reason;
}

function openSign(a) {
  signing = a;
  $("sign").hidden = false;
  $("sign-what").textContent = "acknowledgement of the " + a.cqa + " alert of batch " + a.batch_id;
  $("sign-error").textContent = "";
  $("sign-reason").focus();
}

function closeSign() {
  signing = null;
  $("sign").hidden = true;
  $("sign-password").value = "";
}

async function submitSign() {
  const a = signing;
  if (!a) return;
  const password = $("sign-password").value;
  $("sign-password").value = "";
  try {
    await api("/api/batches/" + encodeURIComponent(a.batch_id) + "/alerts/" + encodeURIComponent(a.cqa) + "/ack", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: password, meaning: $("sign-meaning").value, reason: $("sign-reason").value }),
    });
    $("sign-reason").value = "";
    closeSign();
  } catch (e) {
    if (e instanceof Unauthorized) return showLogin("Your session has ended; sign in again.");
    $("sign-error").textContent = "Not signed: " + e.message;
    return;
  }
  refresh();
}

function utc(unixS) {
  return new Date(unixS * 1000).toISOString().slice(0, 19) + "Z";
}

async function renderAudit() {
  if (!me || !me.may.includes("view_audit")) { $("audit").hidden = true; return; }
  $("audit").hidden = false;
  const only = $("audit-batch-only").checked && selected !== null;
  const r = await api("/api/audit?limit=200" + (only ? "&batch=" + encodeURIComponent(selected) : ""));
  const list = await r.json();
  $("audit-chain").textContent = "Chain " + (r.headers.get("X-Audit-Chain") || "unknown") + "; " +
    (r.headers.get("X-Total-Count") || list.length) + " entries of your sponsor, newest first. ";
  const body = $("audit-entries").tBodies[0];
  body.replaceChildren();
  for (const e of list) {
    const d = Object.assign({}, e.detail);
    const sig = d.signature;
    delete d.signature;
    let text = JSON.stringify(d);
    if (text.length > 160) text = text.slice(0, 157) + "...";
    const detail = el("td", sig ? "signed: " + signatureText(sig) + " | " + text : text, sig ? "signature" : "");
    const tr = el("tr");
    tr.append(el("td", e.seq), el("td", utc(e.time_unix_s)), el("td", e.actor), el("td", e.action),
      el("td", d.batch || d.batch_id || ""), detail);
    body.append(tr);
  }
}

async function refresh() {
  try {
    const list = await (await api("/api/batches")).json();
    if (selected === null || !list.some(b => b.batch_id === selected)) {
      const running = list.find(b => !b.finished);
      selected = running ? running.batch_id : (list.length ? list[0].batch_id : null);
    }
    if (me === null) me = await (await api("/api/me")).json();
    $("whoami").textContent = me.full_name
      ? "Signed in: " + me.full_name + " (" + me.user_id + ", " + me.role_label + ", " + me.tenant + ")"
      : "Sponsor " + me.tenant + " (shared token, read-only)";
    $("login").hidden = true;
    $("app").hidden = false;
    $("session").hidden = false;
    latestByBatch = new Map(list.filter(b => b.latest).map(b => [b.batch_id, b.latest]));
    renderBatches(list);
    await renderDetail();
    const alerts = await (await api("/api/alerts")).json();
    renderBanner(alerts);
    renderAlerts(alerts);
    await renderAudit();
    $("app-error").textContent = "";
  } catch (e) {
    if (e instanceof Unauthorized) {
      sessionStorage.removeItem(KEY);
      return showLogin("Signed out (the session ended or the token was rejected).");
    }
    $("app-error").textContent = "Loading failed: " + e.message;
  }
}

async function signIn() {
  const user = $("login-user").value.trim();
  const password = $("login-password").value;
  $("login-password").value = "";
  if (!user || !password) { $("login-error").textContent = "Enter your user id and password."; return; }
  const r = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: user, password: password }),
  });
  let body = {};
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) { $("login-error").textContent = body.error || (r.status + " " + r.statusText); return; }
  sessionStorage.setItem(KEY, body.token);
  me = null;
  refresh();
}

async function signOut() {
  if (me && me.via === "session") {
    try { await api("/api/logout", { method: "POST" }); } catch (e) { /* ends anyway */ }
  }
  sessionStorage.removeItem(KEY);
  selected = null;
  closeSign();
  showLogin("");
}

function start() {
  takeFragmentToken();
  $("login-form").addEventListener("submit", ev => { ev.preventDefault(); signIn(); });
  $("token-form").addEventListener("submit", ev => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(KEY, t);
    $("token").value = "";
    me = null;
    refresh();
  });
  $("logout").addEventListener("click", signOut);
  $("sign-form").addEventListener("submit", ev => { ev.preventDefault(); submitSign(); });
  $("sign-cancel").addEventListener("click", closeSign);
  $("audit-batch-only").addEventListener("change", () => renderAudit().catch(e => {
    $("app-error").textContent = "Loading the audit trail failed: " + e.message;
  }));
  if (sessionStorage.getItem(KEY)) refresh(); else showLogin("");
  // Forecasts arrive as the batch runs: refresh every 30 s (not while a
  // signature is being entered).
  setInterval(() => {
    if (sessionStorage.getItem(KEY) && !$("app").hidden && signing === null) refresh();
  }, 30000);
}

start();
