// A logged tracker.Table, step by step.
import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { cell } from "../format.js";

// A tracker.Table: the first 100 rows of the step picked (the last by default).
export function TableView({ project, runId, tkey }) {
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
