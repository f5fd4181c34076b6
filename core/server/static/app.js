// tracker dashboard: Preact + htm components, uPlot charts, one EventSource per tab.
import { h, render } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

const html = htm.bind(h);
window.__charts = {};

// ------------------------------------------------------------------ helpers
const qs = new URLSearchParams(location.search);
if (qs.has("token")) {
  // The server set an HttpOnly cookie with this response; keep the token out of history.
  qs.delete("token");
  history.replaceState(null, "", location.pathname + (qs.toString() ? "?" + qs : ""));
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    // X-Tracker-CSRF: a team server refuses cookie-authenticated writes without it.
    method: "POST", headers: { "Content-Type": "application/json", "X-Tracker-CSRF": "1" }, body: JSON.stringify(body),
  };
  const res = await fetch("/api" + path, { credentials: "same-origin", ...opts });
  if (res.status === 401 && (res.headers.get("content-type") || "").includes("json")) {
    // A team server's session ended (tracker ui's wrong-token 401 is plain text).
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.json();
}

// POST /api/series in its binary encoding (tracker.server._series): a uint32 header length,
// a JSON header, then float64 arrays. Each view gets typed-array views of the buffer.
async function seriesApi(body) {
  const res = await fetch("/api/series", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-Tracker-CSRF": "1" },
    body: JSON.stringify({ ...body, format: "binary" }),
  });
  if (res.status === 401 && (res.headers.get("content-type") || "").includes("json")) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search)); // as api()
  }
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  const buf = await res.arrayBuffer();
  const n = new DataView(buf).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const data = 4 + n;
  for (const per of Object.values(head.series)) {
    for (const s of Object.values(per)) {
      s.fields.forEach((f, i) => { s[f] = new Float64Array(buf, data + s.offset + 8 * i * s.len, s.len); });
      delete s.fields; delete s.offset; delete s.len;
    }
  }
  return head;
}
// A copy of a series payload with plain arrays (what tests and the console read).
function plainPayload(res) {
  const series = {};
  for (const [key, per] of Object.entries(res.series)) {
    series[key] = {};
    for (const [id, s] of Object.entries(per)) series[key][id] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v) : v]));
  }
  return { ...res, series };
}

const enc = encodeURIComponent;
// The project page's first requests start while the modules are still being evaluated
// (not after the first render); first() hands each prefetched answer out once.
const prefetched = new Map();
{
  const m = location.pathname.match(/^\/projects\/([^/]+)\/?$/);
  if (m) for (const part of ["runs", "keys"]) { const p = `/projects/${m[1]}/${part}`; const r = api(p); r.catch(() => {}); prefetched.set(p, r); }
}
function first(path) { const p = prefetched.get(path); prefetched.delete(path); return p || api(path); }
function navigate(url) { history.pushState(null, "", url); window.dispatchEvent(new Event("popstate")); }
function Link({ href, children, ...rest }) {
  return html`<a href=${href} onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey) { e.preventDefault(); navigate(href); } }} ...${rest}>${children}</a>`;
}

function hash(s) { let x = 2166136261; for (let i = 0; i < s.length; i++) { x ^= s.charCodeAt(i); x = Math.imul(x, 16777619); } return x >>> 0; }
export function runColor(id, alpha = 1) { const hue = (hash(id) * 137.508) % 360; return `hsla(${hue.toFixed(1)},70%,42%,${alpha})`; }

function fmtTime(t) { return t == null ? "" : new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19); }
function fmtDur(s) {
  if (s == null) return "";
  s = Math.round(s);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}h ${mm}m` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}
// y tick labels: uPlot's default rounds to 3 decimals (a learning rate of 3e-4 read "0").
function fmtTick(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(1) : String(+v.toPrecision(6));
}
// A y axis whose width fits its longest label (uPlot's fixed 50 px cut long ones).
function yAxis() {
  return { values: (u, vals) => vals.map(fmtTick), size: (u, vals) => 18 + 7 * Math.max(3, ...(vals || []).map((v) => String(v).length)) };
}
function fmtVal(v) {
  if (v == null) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4));
  return String(v);
}

// ------------------------------------------------------------------ live stream (one per tab)
const live = { listeners: new Set(), es: null, project: null };
function liveOpen(project) {
  live.project = project;
  if (live.es) { live.es.close(); live.es = null; }
  if (!project || document.visibilityState === "hidden") return;
  const es = new EventSource(`/api/events?project=${enc(project)}`);
  es.addEventListener("runs", (ev) => { const msg = JSON.parse(ev.data); for (const fn of live.listeners) fn(msg); });
  live.es = es;
  document.body.dataset.live = "open";
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") { if (live.es) { live.es.close(); live.es = null; document.body.dataset.live = "closed"; } }
  else if (live.project) liveOpen(live.project);
});
function useLive(project, fn) {
  const ref = useRef(fn); ref.current = fn;
  useEffect(() => {
    const l = (m) => ref.current(m);
    live.listeners.add(l);
    liveOpen(project);
    return () => { live.listeners.delete(l); if (live.listeners.size === 0 && live.es) { live.es.close(); live.es = null; live.project = null; } };
  }, [project]);
}

// ------------------------------------------------------------------ chart panel
function ema(ys, alpha) {
  if (!alpha) return ys;
  const out = new Array(ys.length); let acc = 0, w = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y == null) { out[i] = null; continue; }
    acc = acc * alpha + y; w = w * alpha + 1; out[i] = acc / w;
  }
  return out;
}

// Aligns per-run series (each {x, last|y, min, max}) on the union of their x values.
function sameX(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function align(runIds, per, opts) {
  const xsSet = new Map(); let sameGrid = true; let first = null;
  for (const id of runIds) { const s = per[id]; if (!s) continue; if (first === null) first = s.x; else if (sameGrid && !sameX(s.x, first)) sameGrid = false; }
  let xs;
  if (first === null) xs = [];
  else if (sameGrid) xs = Array.from(first);
  else {
    for (const id of runIds) { const s = per[id]; if (s) for (const v of s.x) xsSet.set(v, true); }
    xs = Array.from(xsSet.keys()).sort((a, b) => a - b);
  }
  const pos = sameGrid ? null : new Map(xs.map((v, i) => [v, i]));
  const data = [xs]; const meta = [];
  let points = 0; let lastX = -Infinity; let raw = true;
  for (const id of runIds) {
    const s = per[id]; if (!s) continue;
    const line = new Array(xs.length).fill(null), lo = new Array(xs.length).fill(null), hi = new Array(xs.length).fill(null);
    const ys = s.raw ? s.y : s.last; const mins = s.raw ? s.y : s.min; const maxs = s.raw ? s.y : s.max;
    const log = opts.log;
    for (let i = 0; i < s.x.length; i++) {
      const j = pos === null ? i : pos.get(s.x[i]);
      if (!log || ys[i] > 0) line[j] = ys[i];
      if (!log || mins[i] > 0) lo[j] = mins[i];
      if (!log || maxs[i] > 0) hi[j] = maxs[i];
    }
    points += s.x.length; raw = raw && s.raw;
    if (s.x.length) lastX = Math.max(lastX, s.raw ? s.x[s.x.length - 1] : s.last_x[s.last_x.length - 1]);
    data.push(ema(line, opts.smoothing), hi, lo);
    meta.push({ id, raw: s.raw });
  }
  return { data, meta, points, lastX, raw };
}

// One line per group: the mean of its runs' lines per x, and a band from the smallest
// min to the largest max of its runs (the runs share the x grid of align()).
function groupLines(data, meta, groups) {
  const at = new Map(meta.map((m, i) => [m.id, i]));
  const xs = data[0]; const out = [xs]; const gmeta = [];
  for (const g of groups) {
    const idx = g.ids.map((id) => at.get(id)).filter((i) => i !== undefined);
    if (!idx.length) continue;
    const mean = new Array(xs.length).fill(null), lo = new Array(xs.length).fill(null), hi = new Array(xs.length).fill(null);
    for (let j = 0; j < xs.length; j++) {
      let sum = 0, n = 0, mn = Infinity, mx = -Infinity;
      for (const i of idx) {
        const v = data[1 + 3 * i][j], a = data[3 + 3 * i][j], b = data[2 + 3 * i][j];
        if (v != null) { sum += v; n++; }
        if (a != null && a < mn) mn = a;
        if (b != null && b > mx) mx = b;
      }
      if (n) mean[j] = sum / n;
      if (mn !== Infinity) lo[j] = mn;
      if (mx !== -Infinity) hi[j] = mx;
    }
    out.push(mean, hi, lo);
    gmeta.push({ id: "group:" + g.label, label: `${g.label} (n=${idx.length})`, raw: false });
  }
  return { data: out, meta: gmeta };
}

function ChartPanel({ project, runIds, metric, names, opts, version, groups }) {
  const box = useRef(null); const plot = useRef(null); const zoom = useRef(null);
  const [payload, setPayload] = useState(null);
  const [visible, setVisible] = useState(false);
  const [error, setError] = useState(null);
  const seq = useRef(0);
  const loaded = useRef(null); // what the last load() asked for (runs|metric|x|version)

  // A layout effect: it runs before the first paint, so the first panels ask for their data
  // without waiting for the page (and the runs table) to be painted.
  useLayoutEffect(() => {
    // On screen already (the first panels): load now instead of a frame later.
    if (box.current.getBoundingClientRect().top < window.innerHeight + 200) { load(zoom.current); setVisible(true); return undefined; }
    const io = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) { setVisible(true); io.disconnect(); } }, { rootMargin: "200px" });
    io.observe(box.current); return () => io.disconnect();
  }, []);

  async function load(range) {
    const my = ++seq.current;
    loaded.current = [runIds.join(","), metric, opts.x, version].join("|");
    const width = Math.max(200, Math.min(2000, Math.round((box.current?.clientWidth || 600))));
    const body = { project, runs: runIds, keys: [metric], x: opts.x, buckets: width };
    if (range) { body.x_min = range[0]; body.x_max = range[1]; }
    try {
      const res = await seriesApi(body);
      if (my !== seq.current) return;
      setPayload({ res, range });
    } catch (e) { setError(String(e)); }
  }
  useLayoutEffect(() => {
    const want = [runIds.join(","), metric, opts.x, version].join("|");
    if (visible && loaded.current !== want) load(zoom.current);
  }, [visible, runIds.join(","), metric, opts.x, version]);
  useEffect(() => { zoom.current = null; }, [opts.x]);

  useEffect(() => {
    if (!payload || !box.current) return;
    const per = payload.res.series[metric] || {};
    const ids = runIds.filter((id) => per[id]);
    const aligned = align(ids, per, opts);
    const { points, lastX, raw } = aligned;
    const { data, meta } = groups ? groupLines(aligned.data, aligned.meta, groups) : aligned;
    const series = [{ label: opts.x }];
    const bands = [];
    meta.forEach((m, i) => {
      const c = runColor(m.id);
      series.push({ label: m.label || names[m.id] || m.id, stroke: c, width: groups ? 2 : 1.5, points: { show: m.raw && data[0].length < 200 } });
      series.push({ label: "max", stroke: runColor(m.id, 0.35), width: 1, points: { show: false } });
      series.push({ label: "min", stroke: runColor(m.id, 0.35), width: 1, points: { show: false } });
      bands.push({ series: [2 + i * 3, 3 + i * 3], fill: runColor(m.id, 0.15) });
    });
    const el = box.current;
    const width = el.clientWidth || 600;
    const o = {
      width, height: 260, series, bands,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: opts.x === "_timestamp" }, y: opts.log ? { distr: 3 } : {} },
      axes: [{}, yAxis()],
      spanGaps: true,
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          zoom.current = [a, b]; load([a, b]);
        }],
      },
    };
    if (plot.current) plot.current.destroy();
    el.querySelector(".plot").innerHTML = "";
    plot.current = new uPlot(o, data, el.querySelector(".plot"));
    const res = payload.res;
    window.__charts[metric] = { data, runs: ids, lines: meta.map((m) => m.label || m.id), get payload() { return plainPayload(res); } };
    el.dataset.series = String(ids.length);
    el.dataset.lines = String(meta.length);
    el.dataset.points = String(points);
    el.dataset.lastStep = String(lastX === -Infinity ? "" : lastX);
    el.dataset.raw = raw ? "1" : "0";
    el.dataset.xMin = String(payload.res.x_min); el.dataset.xMax = String(payload.res.x_max);
    el.dataset.zoomed = payload.range ? "1" : "0";
    el.dataset.ready = "1";
  }, [payload, opts.log, opts.smoothing, groups ? groups.map((g) => g.label + ":" + g.ids.join(",")).join("|") : ""]);
  useEffect(() => () => { if (plot.current) plot.current.destroy(); delete window.__charts[metric]; }, []);

  return html`<div class="panel" ref=${box} data-chart=${metric} data-ready="0">
    <div class="title"><span>${metric}</span>
      <span>${zoom.current ? html`<button onClick=${() => { zoom.current = null; load(null); }}>reset zoom</button>` : null}</span></div>
    ${error ? html`<div class="muted">${error}</div>` : null}
    <div class="plot"></div></div>`;
}

function ChartControls({ opts, setOpts, xKeys }) {
  return html`<div class="toolbar">
    <label>x-axis <select data-testid="x-axis" value=${opts.x} onChange=${(e) => setOpts({ ...opts, x: e.target.value })}>
      ${["_step", "_runtime", "_timestamp", ...(xKeys || [])].map((k) => html`<option value=${k}>${k === "_step" ? "step" : k === "_runtime" ? "relative time" : k === "_timestamp" ? "wall time" : k}</option>`)}
    </select></label>
    <label><input type="checkbox" data-testid="log-y" checked=${opts.log} onChange=${(e) => setOpts({ ...opts, log: e.target.checked })}/> log y</label>
    <label>smoothing <input type="range" min="0" max="0.99" step="0.01" data-testid="smoothing" value=${opts.smoothing} onInput=${(e) => setOpts({ ...opts, smoothing: Number(e.target.value) })}/> ${opts.smoothing.toFixed(2)}</label>
  </div>`;
}

// ------------------------------------------------------------------ pages
function Projects() {
  const [list, setList] = useState(null);
  useEffect(() => { api("/projects").then(setList); }, []);
  return html`<main><h1>Projects</h1>
    <div class="card" id="projects" data-ready=${list ? "1" : "0"}>
      ${list && list.length === 0 ? html`<p class="muted">No projects yet: log a run with <code>tracker.init(project=...)</code>.</p>` : null}
      <table class="kv">${(list || []).map((p) => html`<tr><td><${Link} href=${`/projects/${enc(p.name)}`}>${p.name}<//></td><td>${p.run_count} runs</td><td>${fmtTime(p.last_created)}</td></tr>`)}</table>
    </div></main>`;
}

function getCol(run, col) {
  if (col.startsWith("config.")) return run.config[col.slice(7)];
  if (col.startsWith("summary.")) return run.summary[col.slice(8)];
  return run[col];
}
function cmp(a, b) {
  if (a == null && b == null) return 0; if (a == null) return 1; if (b == null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

function parseFilter(text) {
  // "config.lr<0.01 state=running summary.loss>=1": space-separated conditions.
  const conds = [];
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const m = part.match(/^([^<>=!]+)(<=|>=|!=|=|<|>)(.*)$/);
    if (m) conds.push({ col: m[1], op: m[2], val: m[3] });
  }
  return conds;
}
function matches(run, conds) {
  for (const c of conds) {
    const v = getCol(run, c.col); const n = Number(c.val); const num = typeof v === "number" && !Number.isNaN(n);
    const a = num ? v : String(v ?? ""); const b = num ? n : c.val;
    if (c.op === "=" && !(a == b)) return false; // eslint-disable-line eqeqeq
    if (c.op === "!=" && a == b) return false; // eslint-disable-line eqeqeq
    if (c.op === "<" && !(a < b)) return false; if (c.op === ">" && !(a > b)) return false;
    if (c.op === "<=" && !(a <= b)) return false; if (c.op === ">=" && !(a >= b)) return false;
  }
  return true;
}

const PAGE = 200;
// Group runs by a column (state, group, tags, a config or summary key): groups sorted by
// their value, runs keep their order inside a group.
function groupRuns(runs, by) {
  const groups = new Map();
  for (const r of runs) {
    let v = by === "tags" ? (r.tags.length ? r.tags.join(", ") : null) : getCol(r, by);
    if (v !== null && typeof v === "object") v = JSON.stringify(v);
    const k = v === undefined || v === null ? "∅" : typeof v === "number" ? v : String(v);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  return [...groups.entries()].sort((a, b) => (a[0] === "∅") - (b[0] === "∅") || cmp(a[0], b[0])).map(([value, rs]) => ({ value, label: String(value), runs: rs }));
}
// Aggregate of a column over a group: numbers give mean/min/max, other values the common one.
function aggregate(rs, col) {
  const vals = rs.map((r) => getCol(r, col)).filter((v) => v !== undefined && v !== null);
  if (!vals.length) return { text: "" };
  const nums = vals.filter((v) => typeof v === "number" && Number.isFinite(v));
  const same = vals.every((v) => v === vals[0]);
  if (same) return { text: fmtVal(vals[0]), title: String(vals[0]) };
  if (nums.length === vals.length) {
    const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
    const lo = Math.min(...nums), hi = Math.max(...nums);
    return { text: fmtVal(mean), sub: `${fmtVal(lo)}–${fmtVal(hi)}`, title: `mean ${mean} · min ${lo} · max ${hi} · n ${nums.length}`, mean, min: lo, max: hi };
  }
  return { text: `${new Set(vals.map(String)).size} values`, title: [...new Set(vals.map(String))].join(", ") };
}

function RunsTable({ runs, project, columns, selected, setSelected, sort, setSort, groupBy }) {
  const [limit, setLimit] = useState(PAGE);
  const [open, setOpen] = useState(() => new Set());
  const fixed = [["state", "State"], ["name", "Name"], ["tags", "Tags"], ["created", "Created"], ["duration", "Duration"]];
  const cols = [...fixed, ...columns.map((c) => [c, c])];
  const header = cols.map(([c, label]) => html`<th class=${c === "name" ? "name" : ""} data-col=${c} title=${label} onClick=${() => setSort({ col: c, dir: sort.col === c ? -sort.dir : 1 })}>${label}${sort.col === c ? (sort.dir > 0 ? " ▲" : " ▼") : ""}</th>`);
  const pick = (ids, on) => { const s = new Set(selected); for (const id of ids) { if (on) s.add(id); else s.delete(id); } setSelected(s); };
  const row = (r, inGroup) => html`<tr key=${r.id} data-run=${r.id} data-state=${r.state} class=${inGroup ? "ingroup" : ""}>
      <td class="sel"><input type="checkbox" checked=${selected.has(r.id)} onChange=${(e) => pick([r.id], e.target.checked)}/></td>
      <td><span class=${"state state-" + r.state}>${r.state}</span></td>
      <td class="name" title=${r.name}><span class="swatch" style=${"background:" + runColor(r.id)}></span><${Link} href=${`/projects/${enc(project)}/runs/${enc(r.id)}`}>${r.name}<//></td>
      <td>${r.tags.map((t) => html`<span class="tag">${t}</span>`)}</td>
      <td>${fmtTime(r.created)}</td><td>${fmtDur(r.duration)}</td>
      ${columns.map((c) => html`<td title=${String(getCol(r, c) ?? "")}>${fmtVal(getCol(r, c))}</td>`)}
    </tr>`;
  let body;
  if (groupBy) {
    body = [];
    let budget = limit;
    for (const g of groupRuns(runs, groupBy)) {
      const expanded = open.has(g.label);
      const ids = g.runs.map((r) => r.id);
      const states = {};
      for (const r of g.runs) states[r.state] = (states[r.state] || 0) + 1;
      const dur = aggregate(g.runs, "duration");
      body.push(html`<tr key=${"g:" + g.label} class="grouprow" data-group=${g.label} data-count=${g.runs.length} data-expanded=${expanded ? "1" : "0"}>
        <td class="sel"><input type="checkbox" title="select the group's runs" checked=${ids.every((id) => selected.has(id))} onChange=${(e) => pick(ids, e.target.checked)}/></td>
        <td title=${Object.entries(states).map(([k, n]) => `${n} ${k}`).join(", ")}><button class="toggle" data-testid="group-toggle" onClick=${() => { const o = new Set(open); if (expanded) o.delete(g.label); else o.add(g.label); setOpen(o); }}>${expanded ? "▾" : "▸"}</button> ${g.runs.length} runs</td>
        <td class="name" title=${`${groupBy} = ${g.label}`}><span class="muted">${groupBy} = </span><b>${g.label}</b></td>
        <td></td><td></td><td title=${dur.title || ""}>${dur.mean !== undefined ? fmtDur(dur.mean) : fmtDur(g.runs[0].duration)}</td>
        ${columns.map((c) => { const a = aggregate(g.runs, c); return html`<td data-col=${c} data-mean=${a.mean ?? ""} data-min=${a.min ?? ""} data-max=${a.max ?? ""} title=${a.title || ""}>${a.text}${a.sub ? html` <span class="muted">${a.sub}</span>` : null}</td>`; })}
      </tr>`);
      if (expanded && budget > 0) { for (const r of g.runs.slice(0, budget)) body.push(row(r, true)); budget -= g.runs.length; }
    }
  } else body = runs.slice(0, limit).map((r) => row(r, false));
  return html`<div class="tablewrap" onScroll=${(e) => { const t = e.target; if (t.scrollTop + t.clientHeight > t.scrollHeight - 200 && limit < runs.length) setLimit(limit + PAGE); }}>
  <table class="runs" id="runs-table" data-ready="1" data-rows=${runs.length} data-grouped=${groupBy || ""}>
    <thead><tr><th class="sel"><input type="checkbox" title="select all shown" onChange=${(e) => setSelected(e.target.checked ? new Set(runs.map((r) => r.id)) : new Set())}/></th>${header}</tr></thead>
    <tbody>${body}</tbody></table></div>`;
}

function Project({ project }) {
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  const [search, setSearch] = useState(qs.get("search") || "");
  const [filter, setFilter] = useState(qs.get("filter") || "");
  const [sort, setSort] = useState({ col: "created", dir: -1 });
  const [columns, setColumns] = useState(null);
  const [selected, setSelected] = useState(null);
  const [keys, setKeys] = useState(null);
  const [keySearch, setKeySearch] = useState(qs.get("keys") || "");
  const [opts, setOpts] = useState({ x: "_step", log: false, smoothing: 0 });
  const [groupBy, setGroupBy] = useState(qs.get("group") || "");
  const [versions, setVersions] = useState({});

  useEffect(() => {
    first(`/projects/${enc(project)}/runs`).then((rs) => {
      setRuns(rs);
      const cfg = new Set(), sum = new Set();
      for (const r of rs.slice(0, 200)) { Object.keys(r.config).forEach((k) => cfg.add(k)); Object.keys(r.summary).forEach((k) => sum.add(k)); }
      const want = qs.get("columns");
      setColumns(want ? want.split(",").filter(Boolean) : [...[...cfg].slice(0, 4).map((k) => "config." + k), ...[...sum].slice(0, 4).map((k) => "summary." + k)]);
      const sel = qs.get("runs");
      setSelected(new Set(sel === "all" ? rs.map((r) => r.id) : sel ? sel.split(",") : rs.slice(0, 10).map((r) => r.id)));
    }, (e) => setError(String(e)));
    first(`/projects/${enc(project)}/keys`).then(setKeys, (e) => setError(String(e)));
  }, [project]);

  useLive(project, (msg) => {
    setRuns((old) => {
      if (!old) return old;
      const byId = new Map(old.map((r) => [r.id, r]));
      const added = [];
      for (const r of msg.runs) { if (!byId.has(r.id)) added.push(r.id); byId.set(r.id, r); }
      for (const id of msg.removed) byId.delete(id);
      if (added.length) {
        setSelected((s) => (s && s.size < 10 ? new Set([...s, ...added]) : s));
        api(`/projects/${enc(project)}/keys`).then(setKeys);
      }
      const bumped = {};
      for (const r of msg.runs) { const prev = old.find((o) => o.id === r.id); if (!prev || prev.max_step !== r.max_step) bumped[r.id] = r.max_step; }
      if (Object.keys(bumped).length) setVersions((v) => ({ ...v, ...bumped }));
      return [...byId.values()];
    });
  });

  const view = useMemo(() => {
    if (!runs) return [];
    const s = search.toLowerCase(); const conds = parseFilter(filter);
    const out = runs.filter((r) => (!s || r.name.toLowerCase().includes(s) || r.id.toLowerCase().includes(s) || r.tags.some((t) => t.toLowerCase().includes(s))) && matches(r, conds));
    out.sort((a, b) => sort.dir * cmp(getCol(a, sort.col), getCol(b, sort.col)));
    return out;
  }, [runs, search, filter, sort]);

  if (error) return html`<main><h1>${project}</h1><div class="card">${error}</div></main>`;
  if (!runs || !columns || !selected) return html`<main><h1>${project}</h1><div class="muted">loading…</div></main>`;
  const allCols = [...new Set(runs.slice(0, 200).flatMap((r) => [...Object.keys(r.config).map((k) => "config." + k), ...Object.keys(r.summary).map((k) => "summary." + k)]))];
  const chartRuns = view.filter((r) => selected.has(r.id)).map((r) => r.id);
  const names = Object.fromEntries(runs.map((r) => [r.id, r.name]));
  const ks = keySearch.toLowerCase();
  const shownKeys = (keys || []).filter((k) => !ks || k.key.toLowerCase().includes(ks));
  const version = chartRuns.map((id) => versions[id] ?? "").join(",");
  const chartGroups = groupBy ? groupRuns(view.filter((r) => selected.has(r.id)), groupBy).map((g) => ({ label: g.label, ids: g.runs.map((r) => r.id) })) : null;
  return html`<main><h1>${project} <span class="muted">${runs.length} runs</span></h1>
    <div class="card">
      <div class="toolbar">
        <input type="search" placeholder="search name, id, tag" data-testid="search" value=${search} onInput=${(e) => setSearch(e.target.value)}/>
        <input type="search" placeholder="filter: config.lr<0.01 state=running" data-testid="filter" value=${filter} onInput=${(e) => setFilter(e.target.value)}/>
        <label>group by <select data-testid="group-by" value=${groupBy} onChange=${(e) => setGroupBy(e.target.value)}>
          <option value="">none</option>${["state", "group", "tags", ...allCols.filter((c) => c.startsWith("config."))].map((c) => html`<option value=${c}>${c}</option>`)}
        </select></label>
        <details><summary>columns</summary>${allCols.map((c) => html`<label style="display:block"><input type="checkbox" checked=${columns.includes(c)} onChange=${(e) => setColumns(e.target.checked ? [...columns, c] : columns.filter((x) => x !== c))}/> ${c}</label>`)}</details>
        <span class="muted">${view.length} shown · ${chartRuns.length} charted</span>
        ${chartRuns.length >= 2 ? html`<${Link} href=${`/projects/${enc(project)}/compare?runs=${chartRuns.map(enc).join(",")}`} data-testid="compare">compare ${chartRuns.length} runs<//>` : null}
      </div>
      <${RunsTable} runs=${view} project=${project} columns=${columns} selected=${selected} setSelected=${setSelected} sort=${sort} setSort=${setSort} groupBy=${groupBy}/>
    </div>
    <h2>Charts</h2>
    <div class="toolbar"><input type="search" placeholder="search metric keys" data-testid="key-search" value=${keySearch} onInput=${(e) => setKeySearch(e.target.value)}/>
      <${ChartControls} opts=${opts} setOpts=${setOpts} xKeys=${(keys || []).slice(0, 50).map((k) => k.key)}/></div>
    <div class="panels" id="workspace" data-ready=${keys ? "1" : "0"} data-panels=${shownKeys.length}>
      ${shownKeys.slice(0, 300).map((k) => html`<${ChartPanel} key=${k.key} project=${project} runIds=${chartRuns} metric=${k.key} names=${names} opts=${opts} version=${version} groups=${chartGroups}/>`)}
    </div>
    ${shownKeys.length > 300 ? html`<p class="muted">${shownKeys.length - 300} more keys: narrow the search.</p>` : null}
  </main>`;
}

function KV({ obj }) {
  const rows = [];
  const walk = (p, v) => { if (v && typeof v === "object" && !Array.isArray(v) && !("_type" in v)) for (const k of Object.keys(v)) walk(p ? p + "." + k : k, v[k]); else rows.push([p, v]); };
  walk("", obj || {});
  return html`<table class="kv">${rows.map(([k, v]) => html`<tr><td>${k}</td><td>${typeof v === "object" ? JSON.stringify(v) : fmtVal(v)}</td></tr>`)}</table>`;
}

function SystemCharts({ project, runId }) {
  const [sys, setSys] = useState(null);
  useEffect(() => { api(`/projects/${enc(project)}/runs/${enc(runId)}/system`).then(setSys, () => setSys({ x: [], series: {} })); }, [runId]);
  if (!sys) return html`<div class="muted">loading…</div>`;
  const keys = Object.keys(sys.series);
  if (!keys.length) return html`<div class="muted" id="system" data-ready="1" data-series="0">No system metrics.</div>`;
  return html`<div class="panels" id="system" data-ready="1" data-series=${keys.length}>${keys.map((k) => html`<${SmallChart} key=${k} title=${k} x=${sys.x} y=${sys.series[k]}/>`)}</div>`;
}
function SmallChart({ title, x, y }) {
  const ref = useRef(null);
  useEffect(() => {
    const u = new uPlot({ width: ref.current.clientWidth || 400, height: 180, legend: { show: false }, scales: { x: { time: false } }, axes: [{}, yAxis()], series: [{}, { stroke: "#2b5ea7", width: 1.5 }] }, [x, y], ref.current.querySelector(".plot"));
    return () => u.destroy();
  }, [x, y]);
  return html`<div class="panel" ref=${ref} style="min-height:200px"><div class="title">${title}</div><div class="plot"></div></div>`;
}

function MediaViewer({ project, runId, mkey }) {
  const [info, setInfo] = useState(null);
  const [idx, setIdx] = useState(0);
  useEffect(() => { api(`/projects/${enc(project)}/runs/${enc(runId)}/media/${enc(mkey)}/steps`).then((r) => { setInfo(r); setIdx(r.steps.length - 1); }); }, [mkey]);
  if (!info) return html`<div class="muted">loading…</div>`;
  if (!info.steps.length) return html`<div class="muted">nothing logged</div>`;
  const s = info.steps[Math.max(0, Math.min(idx, info.steps.length - 1))];
  const base = `/api/projects/${enc(project)}/runs/${enc(runId)}/media/${enc(mkey)}/at/${s.step}`;
  return html`<div class="panel media" data-media=${mkey} data-step=${s.step}>
    <div class="title"><span>${mkey}</span><span>step ${s.step}</span></div>
    <input type="range" min="0" max=${info.steps.length - 1} value=${idx} data-testid="step-slider" style="width:100%" onInput=${(e) => setIdx(Number(e.target.value))}/>
    <div>${s.items.map((it) => it.type === "image-file" ? html`<figure><img src=${`${base}/${it.index}`} alt=${it.caption || mkey}/>${it.caption ? html`<figcaption>${it.caption}</figcaption>` : null}</figure>`
      : it.type === "html-file" ? html`<iframe sandbox="" src=${`${base}/${it.index}`} style="width:100%;height:300px;border:1px solid #ddd"></iframe>`
      : it.type === "audio-file" ? html`<audio controls src=${`${base}/${it.index}`}></audio>`
      : it.type === "video-file" ? html`<video controls src=${`${base}/${it.index}`} style="max-width:100%"></video>`
      : html`<span class="muted">${it.type}</span>`)}</div></div>`;
}

// A histogram key over time: one canvas column per logged step, one row per value bin
// of a grid shared by all steps; darker = more counts (square-root scale, global maximum).
function HistogramHeatmap({ project, runId, hkey }) {
  const [res, setRes] = useState(null);
  const [error, setError] = useState(null);
  const canvas = useRef(null);
  useEffect(() => { api(`/projects/${enc(project)}/runs/${enc(runId)}/histograms/${enc(hkey)}`).then(setRes, (e) => setError(String(e))); }, [hkey]);
  useEffect(() => {
    if (!res || !canvas.current || !res.steps.length) return;
    const c = canvas.current, g = c.getContext("2d");
    const cols = res.counts.length, rows = res.rows;
    let max = 0;
    for (const col of res.counts) for (const v of col) if (v > max) max = v;
    g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
    const cw = c.width / cols, rh = c.height / rows;
    res.counts.forEach((col, i) => col.forEach((v, j) => {
      if (v <= 0) return;
      const t = Math.sqrt(v / max);
      g.fillStyle = `rgba(43,94,167,${(0.08 + 0.92 * t).toFixed(3)})`;
      g.fillRect(Math.floor(i * cw), Math.floor(c.height - (j + 1) * rh), Math.ceil(cw), Math.ceil(rh));
    }));
    c.dataset.ready = "1";
  }, [res]);
  if (error) return html`<div class="error">${error}</div>`;
  if (!res) return html`<div class="muted">loading…</div>`;
  const n = res.steps.length;
  return html`<div class="panel" data-histogram=${hkey} data-steps=${n}>
    <div class="title"><span>${hkey}</span><span class="muted">${res.total_steps} steps${res.total_steps > n ? `, ${n} shown` : ""}</span></div>
    ${n ? html`<div class="heat"><div class="heat-y"><span>${fmtVal(res.hi)}</span><span>${fmtVal(res.lo)}</span></div>
      <div><canvas ref=${canvas} width="800" height="240" data-ready="0" data-cols=${n} data-rows=${res.rows}></canvas>
      <div class="heat-x"><span>step ${res.steps[0]}</span><span>step ${res.steps[n - 1]}</span></div></div></div>` : html`<span class="muted">nothing logged</span>`}</div>`;
}

function cell(v) {
  if (v == null) return "";
  if (typeof v === "object") return v._type ? `[${v._type}]` : JSON.stringify(v);
  return fmtVal(v);
}

// A tracker.Table: the first 100 rows of the step picked (the last by default).
function TableView({ project, runId, tkey }) {
  const [res, setRes] = useState(null);
  const [step, setStep] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const q = step == null ? "" : `?step=${step}`;
    api(`/projects/${enc(project)}/runs/${enc(runId)}/tables/${enc(tkey)}${q}`).then(setRes, (e) => setError(String(e)));
  }, [tkey, step]);
  if (error) return html`<div class="error">${error}</div>`;
  if (!res) return html`<div class="muted">loading…</div>`;
  return html`<div class="card" data-table=${tkey} data-step=${res.step} data-rows=${res.rows.length} data-total=${res.total}>
    <h2>${tkey} <span class="muted">step</span> <select data-testid="table-step" value=${res.step} onChange=${(e) => setStep(Number(e.target.value))}>${res.steps.map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <span class="muted">${res.total > res.rows.length ? `first ${res.rows.length} of ${res.total} rows` : `${res.total} rows`}</span></h2>
    <div class="tablewrap"><table class="runs wide"><thead><tr>${res.columns.map((col) => html`<th>${col}</th>`)}</tr></thead>
    <tbody>${res.rows.map((row) => html`<tr>${row.map((v) => html`<td title=${cell(v)}>${cell(v)}</td>`)}</tr>`)}</tbody></table></div></div>`;
}

function RunPage({ project, runId }) {
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  const [tab, setTab] = useState(qs.get("tab") || "overview");
  const [consoleOut, setConsole] = useState(null);
  const [opts, setOpts] = useState({ x: "_step", log: false, smoothing: 0 });
  const [version, setVersion] = useState(0);
  const load = () => api(`/projects/${enc(project)}/runs/${enc(runId)}`).then(setInfo, (e) => setError(String(e)));
  useEffect(() => { load(); }, [runId]);
  useLive(project, (msg) => { const r = msg.runs.find((x) => x.id === runId); if (r) { load(); setVersion((v) => v + 1); } });
  useEffect(() => { if (tab === "console") api(`/projects/${enc(project)}/runs/${enc(runId)}/console`).then(setConsole); }, [tab, runId, version]);
  if (error) return html`<main><div class="card">${error}</div></main>`;
  if (!info) return html`<main class="muted">loading…</main>`;
  const r = info.run;
  const tabs = ["overview", "charts", "system", "console", "files", "media", "histograms", "tables"];
  return html`<main id="run-page" data-ready="1" data-state=${r.state}>
    <h1><span class="swatch" style=${"background:" + runColor(r.id)}></span>${r.name} <span class=${"state state-" + r.state}>${r.state}</span></h1>
    <div class="tabs">${tabs.map((t) => html`<button class=${tab === t ? "on" : ""} data-tab=${t} onClick=${() => setTab(t)}>${t}</button>`)}</div>
    ${tab === "overview" ? html`<div class="card"><table class="kv">
        <tr><td>id</td><td>${r.id}</td></tr><tr><td>project</td><td><${Link} href=${`/projects/${enc(project)}`}>${project}<//></td></tr>
        <tr><td>created</td><td>${fmtTime(r.created)}</td></tr><tr><td>duration</td><td>${fmtDur(r.duration)}</td></tr>
        <tr><td>tags</td><td>${r.tags.join(", ")}</td></tr><tr><td>group</td><td>${r.group || ""}</td></tr><tr><td>notes</td><td>${info.notes || ""}</td></tr>
        <tr><td>last step</td><td>${r.max_step}</td></tr></table></div>
      <h2>Config</h2><div class="card" id="config"><${KV} obj=${info.config}/></div>
      <h2>Summary</h2><div class="card" id="summary"><${KV} obj=${info.summary}/></div>
      <h2>Metadata</h2><div class="card"><${KV} obj=${info.metadata}/></div>` : null}
    ${tab === "charts" ? html`<${ChartControls} opts=${opts} setOpts=${setOpts}/><div class="panels">${info.keys.map((k) => html`<${ChartPanel} key=${k} project=${project} runIds=${[runId]} metric=${k} names=${{ [runId]: r.name }} opts=${opts} version=${version}/>`)}</div>` : null}
    ${tab === "system" ? html`<${SystemCharts} project=${project} runId=${runId}/>` : null}
    ${tab === "console" ? html`<pre class="console" id="console" data-ready=${consoleOut ? "1" : "0"}>${(consoleOut?.lines || []).map((l) => html`<div class=${l.stream}>${l.text}</div>`)}</pre>` : null}
    ${tab === "files" ? html`<div class="card" id="files">${info.files.length ? html`<ul>${info.files.map((f) => html`<li><a href=${`/api/projects/${enc(project)}/runs/${enc(runId)}/files/${f.split("/").map(enc).join("/")}`}>${f}</a></li>`)}</ul>` : html`<span class="muted">No files saved.</span>`}</div>` : null}
    ${tab === "histograms" ? html`<div id="histograms" data-count=${info.histograms.length}>${info.histograms.length ? info.histograms.map((k) => html`<${HistogramHeatmap} key=${k} project=${project} runId=${runId} hkey=${k}/>`) : html`<span class="muted">No histograms.</span>`}</div>` : null}
    ${tab === "tables" ? html`<div id="tables" data-count=${info.tables.length}>${info.tables.length ? info.tables.map((k) => html`<${TableView} key=${k} project=${project} runId=${runId} tkey=${k}/>`) : html`<span class="muted">No tables.</span>`}</div>` : null}
    ${tab === "media" ? html`<div id="media">${Object.keys(info.media).length ? Object.keys(info.media).map((k) => html`<${MediaViewer} key=${k} project=${project} runId=${runId} mkey=${k}/>`) : html`<span class="muted">No media.</span>`}</div>` : null}
  </main>`;
}

// Compare runs: config (and summary) side by side; rows whose values are all equal are
// hidden unless asked for, so what differs between the runs is what one sees.
function ComparePage({ project }) {
  const ids = (new URLSearchParams(location.search).get("runs") || "").split(",").filter(Boolean);
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  const [showEqual, setShowEqual] = useState(false);
  useEffect(() => { api(`/projects/${enc(project)}/runs`).then((rs) => { const by = new Map(rs.map((r) => [r.id, r])); setRuns(ids.map((id) => by.get(id)).filter(Boolean)); }, (e) => setError(String(e))); }, [project, ids.join(",")]);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!runs) return html`<main class="muted">loading…</main>`;
  const section = (title, part) => {
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r[part] || {})))].filter((k) => !k.startsWith("_")).sort();
    const rows = keys.map((k) => {
      const vals = runs.map((r) => (r[part] || {})[k]);
      const same = vals.every((v) => JSON.stringify(v) === JSON.stringify(vals[0]));
      return { k, vals, same };
    });
    const diff = rows.filter((r) => !r.same).length;
    const shown = rows.filter((r) => showEqual || !r.same);
    return html`<div class="card" data-section=${part} data-diff=${diff} data-equal=${rows.length - diff}>
      <h2>${title} <span class="muted">${diff} differ · ${rows.length - diff} equal${showEqual ? "" : " (hidden)"}</span></h2>
      ${shown.length ? html`<table class="runs wide compare"><thead><tr><th>key</th>${runs.map((r) => html`<th><span class="swatch" style=${`background:${runColor(r.id)}`}></span>${r.name}</th>`)}</tr></thead>
      <tbody>${shown.map((row) => html`<tr data-key=${row.k} class=${row.same ? "same" : "diff"}><td>${row.k}</td>${row.vals.map((v) => html`<td title=${String(v ?? "")}>${v === undefined ? html`<span class="muted">–</span>` : fmtVal(v)}</td>`)}</tr>`)}</tbody></table>`
      : html`<p class="muted">${rows.length ? "All values are equal." : "Nothing logged."}</p>`}</div>`;
  };
  return html`<main id="compare" data-ready="1" data-runs=${runs.length}>
    <h1>Compare <span class="muted">${runs.length} runs of ${project}</span></h1>
    ${runs.length < ids.length ? html`<p class="muted">${ids.length - runs.length} run(s) not found.</p>` : null}
    <div class="toolbar"><label><input type="checkbox" data-testid="show-equal" checked=${showEqual} onChange=${(e) => setShowEqual(e.target.checked)}/> show equal values</label>
      ${runs.map((r) => html`<${Link} href=${`/projects/${enc(project)}/runs/${enc(r.id)}`}>${r.name}<//>`)}</div>
    ${section("Config", "config")}
    ${section("Summary", "summary")}
  </main>`;
}

function fmtBytes(n) {
  if (n == null) return "";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

// Artifacts of a project: versions (newest first) with aliases, then the files of one.
function ArtifactsPage({ project }) {
  const [arts, setArts] = useState(null);
  const [error, setError] = useState(null);
  const [pick, setPick] = useState(null); // [name, number]
  const [files, setFiles] = useState(null);
  useEffect(() => { api(`/projects/${enc(project)}/artifacts`).then((a) => { setArts(a); if (a.length && a[0].versions.length) setPick([a[0].name, a[0].versions[0].number]); }, (e) => setError(String(e))); }, [project]);
  useEffect(() => {
    setFiles(null);
    if (pick) api(`/projects/${enc(project)}/artifacts/${enc(pick[0])}/v/${pick[1]}/files`).then(setFiles, (e) => setError(String(e)));
  }, [pick && pick.join(":")]);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!arts) return html`<main class="muted">loading…</main>`;
  return html`<main id="artifacts" data-ready="1" data-count=${arts.length}>
    <h1>Artifacts <span class="muted">${project}</span></h1>
    ${arts.length ? null : html`<p class="muted">No artifacts logged in this project.</p>`}
    ${arts.map((a) => html`<div class="card" data-artifact=${a.name}>
      <h2>${a.name} <span class="tag">${a.type}</span> <span class="muted">${a.versions.length} versions</span></h2>
      <table class="runs wide"><thead><tr><th>version</th><th>aliases</th><th>size</th><th>created</th><th>logged by</th><th>digest</th></tr></thead>
      <tbody>${a.versions.map((v) => html`<tr data-version=${v.number} class=${pick && pick[0] === a.name && pick[1] === v.number ? "picked" : ""} onClick=${() => setPick([a.name, v.number])} style="cursor:pointer">
        <td><a href="#" onClick=${(e) => { e.preventDefault(); setPick([a.name, v.number]); }}>${v.version}</a></td>
        <td>${v.aliases.map((al) => html`<span class="tag" data-alias=${al}>${al}</span>`)}</td>
        <td>${fmtBytes(v.size)}</td><td>${fmtTime(v.created)}</td>
        <td>${v.run_id ? html`<${Link} href=${`/projects/${enc(project)}/runs/${enc(v.run_id)}`}>${v.run_id}<//>` : html`<span class="muted">–</span>`}</td>
        <td title=${v.digest || ""}><code>${(v.digest || "").slice(0, 12)}</code></td></tr>`)}</tbody></table></div>`)}
    ${pick ? html`<div class="card" id="artifact-files" data-ready=${files ? "1" : "0"} data-artifact=${pick[0]} data-version=${pick[1]} data-count=${files ? files.count : 0}>
      <h2>Files of ${pick[0]}:v${pick[1]} ${files ? html`<span class="muted">${files.count} entries</span>` : null}</h2>
      ${files ? html`<table class="runs wide"><thead><tr><th>path</th><th>size</th><th>digest / reference</th></tr></thead>
        <tbody>${files.files.map((f) => html`<tr data-path=${f.path}><td>${f.path}</td><td>${fmtBytes(f.size)}</td><td title=${f.ref || f.digest || ""}>${f.ref ? f.ref : html`<code>${(f.digest || "").slice(0, 19)}</code>`}</td></tr>`)}</tbody></table>` : html`<span class="muted">loading…</span>`}
    </div>` : null}
  </main>`;
}

// The model registry: collections (artifacts of the reserved project "model-registry"),
// their versions with aliases and the source artifact version each links.
function RegistryPage() {
  const [cols, setCols] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api("/registry").then(setCols, (e) => setError(String(e))); }, []);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!cols) return html`<main class="muted">loading…</main>`;
  return html`<main id="registry" data-ready="1" data-count=${cols.length}>
    <h1>Model registry</h1>
    ${cols.length ? null : html`<p class="muted">No collections yet: link a model with <code>run.link_artifact(art, "model-registry/NAME")</code>.</p>`}
    ${cols.map((c) => html`<div class="card" data-collection=${c.name}>
      <h2>${c.name} <span class="tag">${c.type}</span> <span class="muted">${c.versions.length} versions</span></h2>
      <table class="runs wide"><thead><tr><th>version</th><th>aliases</th><th>source</th><th>logged by</th><th>size</th><th>created</th><th>digest</th></tr></thead>
      <tbody>${c.versions.map((v) => html`<tr data-version=${v.number}>
        <td>${v.version}</td>
        <td>${v.aliases.map((al) => html`<span class="tag" data-alias=${al}>${al}</span>`)}</td>
        <td data-source=${v.source ? `${v.source.project}/${v.source.name}:v${v.source.version}` : ""}>${v.source ? html`<${Link} href=${`/projects/${enc(v.source.project)}/artifacts`}>${v.source.project}/${v.source.name}:v${v.source.version}<//>` : html`<span class="muted">–</span>`}</td>
        <td>${v.run_id && v.source ? html`<${Link} href=${`/projects/${enc(v.source.project)}/runs/${enc(v.run_id)}`}>${v.run_id}<//>` : html`<span class="muted">${v.run_id || "–"}</span>`}</td>
        <td>${fmtBytes(v.size)}</td><td>${fmtTime(v.created)}</td>
        <td title=${v.digest || ""}><code>${(v.digest || "").slice(0, 12)}</code></td></tr>`)}</tbody></table></div>`)}
  </main>`;
}

// Sweeps of a project, then one sweep: parallel coordinates, metric scatter, importance.
function SweepsPage({ project }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api(`/projects/${enc(project)}/sweeps`).then(setList, (e) => setError(String(e))); }, [project]);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!list) return html`<main class="muted">loading…</main>`;
  return html`<main id="sweeps" data-ready="1" data-count=${list.length}>
    <h1>Sweeps <span class="muted">${project}</span></h1>
    ${list.length ? html`<table class="runs wide"><thead><tr><th>sweep</th><th>state</th><th>method</th><th>metric</th><th>runs</th><th>best</th><th>created</th></tr></thead>
      <tbody>${list.map((s) => html`<tr data-sweep=${s.id}><td><${Link} href=${`/projects/${enc(project)}/sweeps/${enc(s.id)}`}>${s.name}<//> <span class="muted">${s.id}</span></td>
        <td>${s.state}</td><td>${s.method || ""}</td><td>${s.metric ? `${s.metric} (${s.goal})` : ""}</td><td>${s.run_count}</td><td>${fmtVal(s.best)}</td><td>${fmtTime(s.created)}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">No sweeps in this project: create one with <code>tracker.sweep(config, project=...)</code>.</p>`}
  </main>`;
}

// An axis of the parallel-coordinates plot: numeric (linear) or categorical (evenly spaced).
function pcAxis(values) {
  const nums = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (nums.length && nums.length === values.filter((v) => v != null).length) {
    let lo = Math.min(...nums), hi = Math.max(...nums);
    if (lo === hi) { lo -= 1; hi += 1; }
    return { pos: (v) => (typeof v === "number" ? (v - lo) / (hi - lo) : null), ticks: [[0, fmtVal(lo)], [1, fmtVal(hi)]] };
  }
  const cats = [...new Set(values.filter((v) => v != null).map(String))].sort();
  const at = (i) => (cats.length === 1 ? 0.5 : i / (cats.length - 1));
  return { pos: (v) => (v == null ? null : at(cats.indexOf(String(v)))), ticks: cats.map((c, i) => [at(i), c]) };
}

function ParallelCoords({ sweep }) {
  const dims = [...sweep.params, ...(sweep.metric ? [sweep.metric] : [])];
  const val = (r, d) => (d === sweep.metric && !sweep.params.includes(d) ? r.metric : r.params[d]);
  const W = 900, H = 300, pad = { l: 40, r: 60, t: 24, b: 24 };
  const xs = dims.map((_, i) => pad.l + (dims.length === 1 ? 0 : (i * (W - pad.l - pad.r)) / (dims.length - 1)));
  const axes = dims.map((d) => pcAxis(sweep.runs.map((r) => val(r, d))));
  const y = (p) => pad.t + (1 - p) * (H - pad.t - pad.b);
  const ms = sweep.runs.map((r) => r.metric).filter((v) => v != null);
  const mlo = Math.min(...ms), mhi = Math.max(...ms);
  const colour = (m) => {
    if (m == null || !ms.length) return "rgba(120,120,120,0.6)";
    let t = mhi === mlo ? 0.5 : (m - mlo) / (mhi - mlo);
    if (sweep.goal !== "maximize") t = 1 - t; // the best runs are the warmest
    return `hsla(${(240 - 220 * t).toFixed(0)},75%,45%,0.8)`;
  };
  return html`<svg id="sweep-parallel" viewBox=${`0 0 ${W} ${H}`} width="100%" data-lines=${sweep.runs.length} data-axes=${dims.length} role="img">
    ${sweep.runs.map((r) => {
      const pts = dims.map((d, i) => { const p = axes[i].pos(val(r, d)); return p == null ? null : `${xs[i].toFixed(1)},${y(p).toFixed(1)}`; }).filter(Boolean);
      return html`<polyline data-run=${r.id} points=${pts.join(" ")} fill="none" stroke=${colour(r.metric)} stroke-width="1.5"><title>${r.name}: ${sweep.metric || ""} ${fmtVal(r.metric)}</title></polyline>`;
    })}
    ${dims.map((d, i) => html`<g data-axis=${d}><line x1=${xs[i]} x2=${xs[i]} y1=${y(0)} y2=${y(1)} stroke="#333"/>
      <text x=${xs[i]} y=${pad.t - 8} text-anchor="middle" font-size="12" font-weight="600">${d}</text>
      ${axes[i].ticks.map(([p, label]) => html`<text x=${xs[i] + 4} y=${y(p) + 4} font-size="10" fill="#555">${label}</text>`)}</g>`)}
  </svg>`;
}

function SweepScatter({ sweep, x }) {
  const W = 900, H = 240, pad = { l: 60, r: 20, t: 12, b: 28 };
  const pts = sweep.runs.filter((r) => r.metric != null && (x === "index" || r.created != null));
  const xv = (r) => (x === "index" ? r.index : r.created);
  const xsv = pts.map(xv), ysv = pts.map((r) => r.metric);
  const span = (a) => { let lo = Math.min(...a), hi = Math.max(...a); if (!a.length) { lo = 0; hi = 1; } if (lo === hi) { lo -= 1; hi += 1; } return [lo, hi]; };
  const [xl, xh] = span(xsv), [yl, yh] = span(ysv);
  const px = (v) => pad.l + ((v - xl) / (xh - xl)) * (W - pad.l - pad.r);
  const py = (v) => pad.t + (1 - (v - yl) / (yh - yl)) * (H - pad.t - pad.b);
  return html`<svg id="sweep-scatter" viewBox=${`0 0 ${W} ${H}`} width="100%" data-points=${pts.length} role="img">
    <line x1=${pad.l} x2=${W - pad.r} y1=${H - pad.b} y2=${H - pad.b} stroke="#333"/><line x1=${pad.l} x2=${pad.l} y1=${pad.t} y2=${H - pad.b} stroke="#333"/>
    <text x=${pad.l - 4} y=${pad.t + 8} text-anchor="end" font-size="10">${fmtVal(yh)}</text><text x=${pad.l - 4} y=${H - pad.b} text-anchor="end" font-size="10">${fmtVal(yl)}</text>
    <text x=${pad.l} y=${H - 8} font-size="10">${x === "index" ? xl : fmtTime(xl)}</text><text x=${W - pad.r} y=${H - 8} text-anchor="end" font-size="10">${x === "index" ? xh : fmtTime(xh)}</text>
    ${pts.map((r) => html`<circle data-run=${r.id} cx=${px(xv(r)).toFixed(1)} cy=${py(r.metric).toFixed(1)} r="4" fill=${runColor(r.id)}><title>${r.name}: ${fmtVal(r.metric)}</title></circle>`)}
  </svg>`;
}

function SweepPage({ project, sweepId }) {
  const [sweep, setSweep] = useState(null);
  const [error, setError] = useState(null);
  const [x, setX] = useState("index");
  useEffect(() => { api(`/projects/${enc(project)}/sweeps/${enc(sweepId)}`).then(setSweep, (e) => setError(String(e))); }, [project, sweepId]);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!sweep) return html`<main class="muted">loading…</main>`;
  return html`<main id="sweep" data-ready="1" data-runs=${sweep.runs.length}>
    <h1>Sweep ${sweep.name} <span class="muted">${sweep.id} · ${sweep.state} · ${sweep.method || ""}${sweep.metric ? ` · ${sweep.goal} ${sweep.metric}` : ""}</span></h1>
    <div class="card"><h2>Parallel coordinates <span class="muted">one line per run, coloured by ${sweep.metric || "metric"}</span></h2>
      ${sweep.runs.length ? html`<${ParallelCoords} sweep=${sweep}/>` : html`<p class="muted">No runs yet.</p>`}</div>
    <div class="card"><h2>${sweep.metric || "metric"} by run <select data-testid="scatter-x" value=${x} onChange=${(e) => setX(e.target.value)}><option value="index">run index</option><option value="time">created time</option></select></h2>
      <${SweepScatter} sweep=${sweep} x=${x}/></div>
    <div class="card" id="sweep-importance"><h2>Parameter importance <span class="muted">|Spearman rank correlation| of each numeric parameter with ${sweep.metric || "the metric"}</span></h2>
      <table class="runs wide"><thead><tr><th>parameter</th><th>importance</th><th>correlation</th><th>runs</th></tr></thead>
      <tbody>${sweep.importance.map((d) => html`<tr data-param=${d.param}><td>${d.param}</td>
        <td>${d.importance == null ? html`<span class="muted">n/a</span>` : html`<span class="bar" style=${`width:${Math.round(d.importance * 120)}px`}></span> ${d.importance.toFixed(3)}`}</td>
        <td>${d.correlation == null ? "" : d.correlation.toFixed(3)}</td><td>${d.n}</td></tr>`)}</tbody></table></div>
    <div class="card"><h2>Runs</h2><table class="runs wide"><thead><tr><th>#</th><th>run</th><th>state</th>${sweep.params.map((p) => html`<th>${p}</th>`)}<th>${sweep.metric || "metric"}</th></tr></thead>
      <tbody>${sweep.runs.map((r) => html`<tr data-run=${r.id}><td>${r.index}</td><td><span class="swatch" style=${"background:" + runColor(r.id)}></span><${Link} href=${`/projects/${enc(project)}/runs/${enc(r.id)}`}>${r.name}<//></td><td><span class=${"state state-" + r.state}>${r.state}</span></td>
        ${sweep.params.map((p) => html`<td>${fmtVal(r.params[p])}</td>`)}<td>${fmtVal(r.metric)}</td></tr>`)}</tbody></table></div>
  </main>`;
}

function App() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => { const f = () => setPath(location.pathname); window.addEventListener("popstate", f); return () => window.removeEventListener("popstate", f); }, []);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let page;
  if (parts[0] === "projects" && parts.length >= 4 && parts[2] === "runs") page = html`<${RunPage} key=${parts[3]} project=${parts[1]} runId=${parts[3]}/>`;
  else if (parts[0] === "projects" && parts.length >= 3 && parts[2] === "artifacts") page = html`<${ArtifactsPage} key=${parts[1]} project=${parts[1]}/>`;
  else if (parts[0] === "registry") page = html`<${RegistryPage}/>`;
  else if (parts[0] === "projects" && parts.length >= 4 && parts[2] === "sweeps") page = html`<${SweepPage} key=${parts[3]} project=${parts[1]} sweepId=${parts[3]}/>`;
  else if (parts[0] === "projects" && parts.length >= 3 && parts[2] === "sweeps") page = html`<${SweepsPage} key=${parts[1]} project=${parts[1]}/>`;
  else if (parts[0] === "projects" && parts.length >= 3 && parts[2] === "compare") page = html`<${ComparePage} key=${location.search} project=${parts[1]}/>`;
  else if (parts[0] === "projects" && parts.length >= 2) page = html`<${Project} key=${parts[1]} project=${parts[1]}/>`;
  else page = html`<${Projects}/>`;
  return html`<header><${Link} class="brand" href="/">tracker<//><${Link} href="/registry" data-testid="registry-link">registry<//>${parts[1] ? html`<${Link} href=${`/projects/${enc(parts[1])}`}>${parts[1]}<//><${Link} href=${`/projects/${enc(parts[1])}/artifacts`} data-testid="artifacts-link">artifacts<//><${Link} href=${`/projects/${enc(parts[1])}/sweeps`} data-testid="sweeps-link">sweeps<//>` : null}</header>${page}`;
}

render(html`<${App}/>`, document.getElementById("app"));
