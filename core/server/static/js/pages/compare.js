// The compare page: runs' config and summary side by side.
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { fmtVal, runColor } from "../format.js";

// Compare runs: config (and summary) side by side; rows whose values are all equal are
// hidden unless asked for, so what differs between the runs is what one sees.
export function ComparePage({ project }) {
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
