// Charts (the one module that draws with uPlot): a metric panel over runs or groups, with
// zoom that re-queries the server; the chart controls; a small single-series chart. The
// data functions (alignment on one x grid, smoothing, group lines) come first.
import uPlot from "uplot";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { plainPayload, seriesApi } from "../api.js";
import { fmtTick, runColor } from "../format.js";

// ------------------------------------------------------------------ chart data
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

function sameX(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
// Aligns per-run series (each {x, last|y, min, max}) on the union of their x values.
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


// ------------------------------------------------------------------ components
// What tests and the console read: per metric, the drawn data, runs, lines and payload.
window.__charts = {};

// A y axis whose width fits its longest label (uPlot's fixed 50 px cut long ones).
function yAxis() {
  return { values: (u, vals) => vals.map(fmtTick), size: (u, vals) => 18 + 7 * Math.max(3, ...(vals || []).map((v) => String(v).length)) };
}

export function ChartPanel({ project, runIds, metric, names, opts, version, groups }) {
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

export function ChartControls({ opts, setOpts, xKeys }) {
  return html`<div class="toolbar">
    <label>x-axis <select data-testid="x-axis" value=${opts.x} onChange=${(e) => setOpts({ ...opts, x: e.target.value })}>
      ${["_step", "_runtime", "_timestamp", ...(xKeys || [])].map((k) => html`<option value=${k}>${k === "_step" ? "step" : k === "_runtime" ? "relative time" : k === "_timestamp" ? "wall time" : k}</option>`)}
    </select></label>
    <label><input type="checkbox" data-testid="log-y" checked=${opts.log} onChange=${(e) => setOpts({ ...opts, log: e.target.checked })}/> log y</label>
    <label>smoothing <input type="range" min="0" max="0.99" step="0.01" data-testid="smoothing" value=${opts.smoothing} onInput=${(e) => setOpts({ ...opts, smoothing: Number(e.target.value) })}/> ${opts.smoothing.toFixed(2)}</label>
  </div>`;
}

export function SmallChart({ title, x, y }) {
  const ref = useRef(null);
  useEffect(() => {
    const u = new uPlot({ width: ref.current.clientWidth || 400, height: 180, legend: { show: false }, scales: { x: { time: false } }, axes: [{}, yAxis()], series: [{}, { stroke: "#2b5ea7", width: 1.5 }] }, [x, y], ref.current.querySelector(".plot"));
    return () => u.destroy();
  }, [x, y]);
  return html`<div class="panel" ref=${ref} style="min-height:200px"><div class="title">${title}</div><div class="plot"></div></div>`;
}
