// The run picker's toolbar over a project's runs: search, filter, group-by, the table's
// columns, and a link comparing the runs picked for the charts.
import { html, Link } from "../html.js";
import { enc } from "../url.js";
import { FilterBuilder } from "./filter-builder.js";

// The config and summary columns of the first 200 runs ("config.lr", "summary.loss").
export function runColumns(runs) {
  return [...new Set(runs.slice(0, 200).flatMap((r) => [...Object.keys(r.config).map((k) => "config." + k), ...Object.keys(r.summary).map((k) => "summary." + k)]))];
}

// The columns shown first: the ?columns= of the URL, else 4 config and 4 summary keys.
export function defaultColumns(runs, want) {
  if (want) return want.split(",").filter(Boolean);
  const cfg = new Set(), sum = new Set();
  for (const r of runs.slice(0, 200)) { Object.keys(r.config).forEach((k) => cfg.add(k)); Object.keys(r.summary).forEach((k) => sum.add(k)); }
  return [...[...cfg].slice(0, 4).map((k) => "config." + k), ...[...sum].slice(0, 4).map((k) => "summary." + k)];
}

// The runs charted first: the ?runs= of the URL ("all" or ids), else the 10 newest.
export function defaultSelection(runs, sel) {
  return new Set(sel === "all" ? runs.map((r) => r.id) : sel ? sel.split(",") : runs.slice(0, 10).map((r) => r.id));
}

export function RunPicker({ project, shown, charted, allCols, columns, setColumns, search, setSearch, filter, setFilter, filterError, groupBy, setGroupBy }) {
  return html`<div class="toolbar">
    <input type="search" placeholder="search name, id, tag" data-testid="search" value=${search} onInput=${(e) => setSearch(e.target.value)}/>
    <span class="filterbox"><input type="search" placeholder="filter: config.lr<0.01 state=finished" data-testid="filter" value=${filter} onInput=${(e) => setFilter(e.target.value)}
      aria-invalid=${filterError ? "true" : "false"} aria-describedby="filter-error" title="config.x, summary.x or a bare key; = != < <= > >= ~ (regex) :; and, or, not, ( )"/>
      ${filterError ? html`<span id="filter-error" class="filter-error" role="alert" data-testid="filter-error" data-position=${filterError.position ?? ""}>${filterError.detail}</span>` : null}</span>
    <${FilterBuilder} allCols=${allCols} filter=${filter} setFilter=${setFilter}/>
    <label>group by <select data-testid="group-by" value=${groupBy} onChange=${(e) => setGroupBy(e.target.value)}>
      <option value="">none</option>${["state", "group", "tags", ...allCols.filter((c) => c.startsWith("config."))].map((c) => html`<option value=${c}>${c}</option>`)}
    </select></label>
    <details><summary>columns</summary>${allCols.map((c) => html`<label style="display:block"><input type="checkbox" checked=${columns.includes(c)} onChange=${(e) => setColumns(e.target.checked ? [...columns, c] : columns.filter((x) => x !== c))}/> ${c}</label>`)}</details>
    <span class="muted">${shown} shown · ${charted.length} charted</span>
    ${charted.length >= 2 ? html`<${Link} href=${`/projects/${enc(project)}/compare?runs=${charted.map(enc).join(",")}`} data-testid="compare">compare ${charted.length} runs<//>` : null}
  </div>`;
}
