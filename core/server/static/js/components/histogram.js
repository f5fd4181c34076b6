// Histograms over time as a heatmap (one run, one key).
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { fmtVal } from "../format.js";

// A histogram key over time: one canvas column per logged step, one row per value bin
// of a grid shared by all steps; darker = more counts (square-root scale, global maximum).
export function HistogramHeatmap({ project, runId, hkey }) {
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
