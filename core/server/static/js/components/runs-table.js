// The runs table: a checkbox per run (and per group) picks the runs charted; sortable
// headers; grouped rows with aggregates; rows rendered PAGE at a time as one scrolls.
import { useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { enc } from "../url.js";
import { fmtDur, fmtTime, fmtVal, runColor } from "../format.js";
import { aggregate, getCol, groupRuns } from "../runs.js";

const PAGE = 200;

export function RunsTable({ runs, project, columns, selected, setSelected, sort, setSort, groupBy }) {
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
