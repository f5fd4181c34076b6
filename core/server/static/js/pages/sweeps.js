// The sweeps pages: a project's sweeps, and one sweep.
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { fmtTime, fmtVal, runColor } from "../format.js";
import { ParallelCoords, SweepScatter } from "../components/sweep-plots.js";

// Sweeps of a project, then one sweep: parallel coordinates, metric scatter, importance.
export function SweepsPage({ project }) {
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

export function SweepPage({ project, sweepId }) {
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
