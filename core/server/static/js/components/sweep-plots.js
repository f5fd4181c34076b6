// Sweep plots (SVG): parallel coordinates of parameters and metric, metric by run.
import { html } from "../html.js";
import { fmtTime, fmtVal, runColor } from "../format.js";

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

export function ParallelCoords({ sweep }) {
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

export function SweepScatter({ sweep, x }) {
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
