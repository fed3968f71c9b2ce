"""The live dashboard served at ``/`` by ``fedrisk serve``: one HTML page that refreshes without a reload.

``dashboard_html(run_dir)`` returns the page; ``dashboard_state(run_dir)`` the run-level JSON it shows (members
and tiers, recent rounds, budgets, audit status, the latest index of the run). In the browser, the page polls
``/v1/stress/index``, ``/v1/models`` and ``/healthz`` every few seconds, and ``/v1/dashboard/state`` less often,
with ``fetch()``, and updates in place. Everything is inline: the page fetches nothing but those endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fedrisk.report.html import esc
from fedrisk.report.rundir import as_float, as_list, as_mapping, load_run
from fedrisk.report.sections import Absent, read_audit, read_governance_members, read_privacy

RECENT_ROUNDS = 10


def _unavailable(note: str) -> dict[str, Any]:
    return {"available": False, "note": note}


def _rounds(stress: Mapping[str, Any]) -> dict[str, Any]:
    jobs = as_mapping(as_mapping(stress.get("federation")).get("jobs"))
    job = as_mapping(jobs.get("federated"))
    hist = [as_mapping(h) for h in as_list(job.get("history"))]
    if not hist:
        return _unavailable("no federated rounds recorded in this run")
    keys = ("round", "status", "members", "val_loss", "val_auprc", "wall_s")
    return {
        "available": True,
        "strategy": job.get("strategy"),
        "best_round": job.get("best_round"),
        "rows": [{k: h.get(k) for k in keys} for h in hist[-RECENT_ROUNDS:]],
    }


def _budgets(results: Mapping[str, Any]) -> dict[str, Any]:
    view = read_privacy(results)
    if isinstance(view, Absent):
        return _unavailable(view.reason)
    rows = []
    for member, pts in view.spent.items():
        spent = pts[-1][1] if pts else None
        cap = view.epsilon_max.get(member)
        used = spent / cap if spent is not None and cap else None
        rows.append({"member": member, "epsilon_spent": spent, "epsilon_max": cap, "used": used})
    return {"available": True, "mode": view.mode, "delta": view.delta, "rows": rows}


def _audit(results: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    view = read_audit(results, run_dir)
    if isinstance(view, Absent):
        return _unavailable(view.reason)
    return {
        "available": True,
        "ok": view.ok,
        "summary": view.summary,
        "n_records": view.n_records,
        "source": view.source,
    }


def _latest_index(index: pd.DataFrame | None, note: str | None) -> dict[str, Any]:
    if index is None:
        return _unavailable(note or "no stress index in this run")
    published = index.dropna(subset=["index"])
    if published.empty:
        return _unavailable("no hour of the index was published (fewer than 3 members)")
    last = published["ts_utc"].max()
    rows = index[index["ts_utc"] == last]
    values = {
        str(a): (round(v, 2) if (v := as_float(x)) is not None else None)
        for a, x in zip(rows["asset"], rows["index"], strict=True)
    }
    return {"available": True, "ts_utc": last.isoformat(), "values": values}


def dashboard_state(run_dir: Path | str) -> dict[str, Any]:
    """The run-level state the dashboard shows, as JSON-ready data (serve it at ``GET /v1/dashboard/state``).

    Keys: ``run_id``, ``created_utc``, ``members`` (member, tier, status), ``rounds``, ``budgets``, ``audit``,
    ``index`` (latest hour of the run's own index). Parts the run lacks are ``{"available": false, "note": ...}``.

    Raises
    ------
    DataNotFoundError, DataValidationError
        As :func:`fedrisk.report.rundir.read_results`.
    """
    run = load_run(run_dir)
    results = run.results
    members = [dict(m) for m in read_governance_members(results)]
    return {
        "run_id": results.get("run_id", run.run_dir.name),
        "created_utc": results.get("created_utc"),
        "members": members,
        "tiers_recorded": any(m.get("tier") for m in members),
        "rounds": _rounds(run.stress),
        "budgets": _budgets(results),
        "audit": _audit(results, run.run_dir),
        "index": _latest_index(run.index, run.index_note),
        "alarm_levels": {
            a: as_float(as_mapping(v).get("alarm_threshold"))
            for a, v in as_mapping(as_mapping(as_mapping(run.stress.get("index")).get("warning")).get("assets")).items()
        },
    }


def _json_for_script(data: object) -> str:
    """JSON safe to embed inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    return json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def dashboard_html(run_dir: Path | str, *, poll_seconds: float = 5.0, state_poll_seconds: float = 30.0) -> str:
    """The dashboard page (serve it at ``GET /`` as ``text/html``), with the run's state embedded to start from."""
    state = dashboard_state(run_dir)
    config = {"pollMs": int(poll_seconds * 1000), "statePollMs": int(state_poll_seconds * 1000)}
    page = _PAGE.replace("__CSS__", _CSS).replace("__JS__", _JS).replace("__CONFIG__", _json_for_script(config))
    page = page.replace("__TITLE__", esc(f"fedrisk dashboard — {state['run_id']}"))
    return page.replace("__STATE__", _json_for_script(state))


_CSS = """
:root { --blue:#0072B2; --orange:#E69F00; --verm:#D55E00; --grey:#595959; }
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin:0; background:#f4f6f8; color:#1a1a1a; }
header { background:#12304a; color:#fff; padding:.8rem 1.5rem; display:flex; justify-content:space-between;
         align-items:baseline; flex-wrap:wrap; gap:.5rem; }
header h1 { margin:0; font-size:1.3rem; }
header .meta { font-size:.85rem; opacity:.9; }
main { display:grid; grid-template-columns:repeat(auto-fit, minmax(360px, 1fr)); gap:1rem; padding:1rem 1.5rem; }
.card { background:#fff; border:1px solid #dcdfe3; border-radius:6px; padding:.8rem 1rem; }
.card h2 { font-size:1.05rem; margin:.1rem 0 .6rem 0; }
.card > div { overflow-x:auto; }
.big { font-size:2.4rem; font-weight:700; font-variant-numeric:tabular-nums; }
.assets { display:flex; gap:1.2rem; flex-wrap:wrap; margin:.4rem 0; }
.asset b { display:block; font-size:1.2rem; font-variant-numeric:tabular-nums; }
.alarm { color:var(--verm); }
.muted { color:var(--grey); font-size:.85rem; }
.note { color:var(--grey); font-style:italic; font-size:.9rem; }
table { border-collapse:collapse; width:100%; font-size:.85rem; font-variant-numeric:tabular-nums; }
th, td { text-align:right; padding:.2rem .4rem; border-bottom:1px solid #eee; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
.pill { display:inline-block; padding:.1rem .55rem; border-radius:3px; font-weight:700; color:#fff;
        background:var(--grey); }
.pill.ok { background:var(--blue); } .pill.fail { background:var(--verm); }
svg { width:100%; height:70px; }
"""

_JS = r"""
const STATE0 = JSON.parse(document.getElementById("initial-state").textContent);
const CFG = JSON.parse(document.getElementById("config").textContent);
window.__dashboardLoadedAt = Date.now();
window.__dashboardRefreshes = 0;
const $ = (id) => document.getElementById(id);
const fmt = (x, d) => (typeof x === "number" && isFinite(x)) ? x.toFixed(d) : "—";
function text(el, s) { el.textContent = s; }
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
function note(el, s) {
  clear(el); const p = document.createElement("p"); p.className = "note"; p.textContent = s; el.appendChild(p);
}
function tableInto(el, cols, rows) {
  clear(el);
  const t = document.createElement("table"), h = t.createTHead().insertRow();
  cols.forEach(c => { const th = document.createElement("th"); th.textContent = c; h.appendChild(th); });
  const b = t.createTBody();
  rows.forEach(r => { const tr = b.insertRow(); r.forEach(v => { tr.insertCell().textContent = v; }); });
  el.appendChild(t);
}
async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store", headers: { "Accept": "application/json" } });
  if (!r.ok) throw new Error(url + " answered HTTP " + r.status);
  return r.json();
}
// Accepts {latest:{ts_utc, market, assets:{A:v}}}, {latest:[{ts_utc, asset, index}]}, [{ts_utc, asset, index}]
// or {ts_utc, values:{A:v}}; returns {ts, values:{asset:value}, history:[[ts, market]]}.
function normaliseIndex(d) {
  const rows = Array.isArray(d) ? d : (Array.isArray(d && d.latest) ? d.latest : null);
  let ts = null, values = {};
  if (rows) {
    rows.forEach(r => { if (!ts || r.ts_utc > ts) ts = r.ts_utc; });
    rows.filter(r => r.ts_utc === ts).forEach(r => { values[r.asset] = r.index; });
  } else {
    const l = (d && d.latest && typeof d.latest === "object") ? d.latest : (d || {});
    ts = l.ts_utc || l.ts || null;
    values = Object.assign({}, l.values || l.assets || {});
    if (typeof l.market === "number") values.MARKET = l.market;
  }
  const hist = [];
  (Array.isArray(d && d.history) ? d.history : []).forEach(h => {
    const v = (typeof h.market === "number") ? h.market : ((h.asset === "MARKET") ? h.index : null);
    if (typeof v === "number") hist.push([h.ts_utc, v]);
  });
  return { ts: ts, values: values, history: hist };
}
function spark(points) {
  const svg = $("index-spark"); clear(svg);
  if (points.length < 2) return;
  const vs = points.map(p => p[1]), lo = Math.min(...vs), hi = Math.max(...vs) || 1;
  const xy = points.map((p, i) => (i * 300 / (points.length - 1)).toFixed(1) + "," +
                                  (65 - 60 * (p[1] - lo) / ((hi - lo) || 1)).toFixed(1)).join(" ");
  const pl = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  pl.setAttribute("points", xy); pl.setAttribute("fill", "none");
  pl.setAttribute("stroke", "#000"); pl.setAttribute("stroke-width", "1.2");
  svg.appendChild(pl);
}
function renderIndex(ix, source) {
  const levels = STATE0.alarm_levels || {};
  const market = ix.values.MARKET;
  text($("index-market"), fmt(market, 1));
  const box = $("index-assets"); clear(box);
  Object.keys(ix.values).filter(a => a !== "MARKET").sort().forEach(a => {
    const d = document.createElement("div"), v = ix.values[a];
    d.className = "asset" + ((typeof v === "number" && levels[a] != null && v >= levels[a]) ? " alarm" : "");
    d.setAttribute("data-asset", a);
    d.textContent = a; const b = document.createElement("b");
    b.textContent = (v == null ? "withheld" : fmt(v, 1)) + ((levels[a] != null && v >= levels[a]) ? " ALARM" : "");
    d.appendChild(b); box.appendChild(d);
  });
  text($("index-time"), (ix.ts || "time unknown") + " · " + source);
  spark(ix.history);
}
function renderHealth(ok, detail) {
  const el = $("health"); el.className = "pill " + (ok ? "ok" : "fail");
  text(el, ok ? "service up" : "service unreachable"); el.title = detail || "";
}
function renderModels(d) {
  const list = Array.isArray(d) ? d : (d && Array.isArray(d.models) ? d.models : []);
  if (!list.length) { note($("models"), "The service lists no model."); return; }
  tableInto($("models"), ["model", "sha256", "audit"], list.map(m => [
    String(m.name || m.id || m.task || "model"),
    String(m.sha256 || m.weights_sha256 || m.hash || "—").slice(0, 16),
    String(m.audit_ref || m.audit || (m.audit_seq != null ? "seq " + m.audit_seq : "—"))]));
}
function renderState(s) {
  text($("run-id"), s.run_id || "?");
  const tiers = s.tiers_recorded;
  tableInto($("members"), ["member", "tier", "status"],
            (s.members || []).map(m => [m.member, m.tier || (tiers ? "—" : "not recorded"), m.status || "—"]));
  if (s.rounds && s.rounds.available) {
    tableInto($("rounds"), ["round", "status", "members", "val. loss", "val. AUPRC", "time (s)"],
      s.rounds.rows.slice().reverse().map(r => [r.round, r.status, r.members, fmt(r.val_loss, 4),
                                                fmt(r.val_auprc, 4), fmt(r.wall_s, 1)]));
  } else note($("rounds"), (s.rounds && s.rounds.note) || "no rounds");
  if (s.budgets && s.budgets.available) {
    tableInto($("budgets"), ["member", "ε spent", "ε budget", "used"],
      s.budgets.rows.map(r => [r.member, fmt(r.epsilon_spent, 3), fmt(r.epsilon_max, 2),
                               r.used == null ? "—" : (100 * r.used).toFixed(0) + " %"]));
  } else note($("budgets"), s.budgets.note);
  const a = s.audit || {}, el = $("audit");
  clear(el);
  if (a.available) {
    const p = document.createElement("span"); p.className = "pill " + (a.ok ? "ok" : "fail");
    p.textContent = a.ok ? "VERIFIED" : "NOT VERIFIED"; el.appendChild(p);
    const d = document.createElement("p"); d.className = "muted"; d.textContent = a.summary + " (" + a.source + ")";
    el.appendChild(d);
  } else note(el, a.note);
}
async function pollFast() {
  try { const h = await getJSON("/healthz"); renderHealth(true, JSON.stringify(h)); }
  catch (e) { renderHealth(false, String(e)); }
  try { renderIndex(normaliseIndex(await getJSON("/v1/stress/index")), "live from /v1/stress/index"); }
  catch (e) { text($("index-time"), "live index unavailable (" + e.message + "); showing the run's last hour"); }
  try { renderModels(await getJSON("/v1/models")); }
  catch (e) { note($("models"), "model list unavailable: " + e.message); }
  window.__dashboardRefreshes += 1;
  text($("refreshed"), "updated " + new Date().toLocaleTimeString() + " · refresh #" + window.__dashboardRefreshes);
  $("refreshed").setAttribute("data-refreshes", String(window.__dashboardRefreshes));
}
async function pollState() {
  try { renderState(await getJSON("/v1/dashboard/state")); } catch (e) { /* keep the last state shown */ }
}
renderState(STATE0);
if (STATE0.index && STATE0.index.available) {
  renderIndex({ ts: STATE0.index.ts_utc, values: STATE0.index.values, history: [] }, "last hour of the run");
}
pollFast(); setInterval(pollFast, CFG.pollMs); setInterval(pollState, CFG.statePollMs);
"""

_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>__TITLE__</title>
<style>__CSS__</style></head><body>
<header><h1>fedrisk · federation dashboard</h1>
<span class="meta">run <span id="run-id"></span> · <span id="health" class="pill">checking…</span>
· <span id="refreshed" data-refreshes="0">not refreshed yet</span></span></header>
<main>
<section class="card" id="index-card"><h2>Liquidity stress index (0-100)</h2>
<div class="big" id="index-market">—</div><div class="muted">market index · <span id="index-time"></span></div>
<div class="assets" id="index-assets"></div>
<svg id="index-spark" viewBox="0 0 300 70" preserveAspectRatio="none" aria-label="market index history"></svg>
<div class="muted">market index history as served (oldest left, latest right; scaled to its range)</div></section>
<section class="card"><h2>Members and tiers</h2><div id="members"></div></section>
<section class="card"><h2>Recent federated rounds</h2><div id="rounds"></div></section>
<section class="card"><h2>Privacy budgets (ε)</h2><div id="budgets"></div></section>
<section class="card"><h2>Audit trail</h2><div id="audit"></div></section>
<section class="card"><h2>Models served</h2><div id="models"></div></section>
</main>
<script type="application/json" id="initial-state">__STATE__</script>
<script type="application/json" id="config">__CONFIG__</script>
<script>__JS__</script>
</body></html>
"""
