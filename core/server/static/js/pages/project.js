// A project's workspace: the run picker and runs table, then a chart panel per metric key
// over the picked runs (or their groups), updated live.
import { useEffect, useMemo, useState } from "preact/hooks";
import { html } from "../html.js";
import { api, first, useLive } from "../api.js";
import { enc, qs } from "../url.js";
import { groupRuns, pickRuns } from "../runs.js";
import { parseSort, sortParam, useServerFilter, writeParams } from "../filter.js";
import { ChartControls, ChartPanel } from "../components/chart.js";
import { RunPicker, defaultColumns, defaultSelection, runColumns } from "../components/run-picker.js";
import { RunsTable } from "../components/runs-table.js";

export function Project({ project }) {
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  const [search, setSearch] = useState(qs.get("search") || "");
  // The address as it is now (qs is the first page's): back to this page restores its filter.
  const [filter, setFilter] = useState(() => new URLSearchParams(location.search).get("filter") || "");
  const [sort, setSort] = useState(() => parseSort(new URLSearchParams(location.search).get("sort")));
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
      setColumns(defaultColumns(rs, qs.get("columns")));
      setSelected(defaultSelection(rs, qs.get("runs")));
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

  const matched = useServerFilter(project, filter, runs);
  useEffect(() => writeParams({ filter: filter.trim(), sort: sort.col === "created" && sort.dir < 0 ? "" : sortParam(sort) }), [filter, sort]);
  const view = useMemo(() => (runs ? pickRuns(runs, search, matched.ids, sort) : []), [runs, search, matched.ids, sort]);

  if (error) return html`<main><h1>${project}</h1><div class="card">${error}</div></main>`;
  if (!runs || !columns || !selected) return html`<main><h1>${project}</h1><div class="muted">loading…</div></main>`;
  const allCols = runColumns(runs);
  const chartRuns = view.filter((r) => selected.has(r.id)).map((r) => r.id);
  const names = Object.fromEntries(runs.map((r) => [r.id, r.name]));
  const ks = keySearch.toLowerCase();
  const shownKeys = (keys || []).filter((k) => !ks || k.key.toLowerCase().includes(ks));
  const version = chartRuns.map((id) => versions[id] ?? "").join(",");
  const chartGroups = groupBy ? groupRuns(view.filter((r) => selected.has(r.id)), groupBy).map((g) => ({ label: g.label, ids: g.runs.map((r) => r.id) })) : null;
  return html`<main><h1>${project} <span class="muted">${runs.length} runs</span></h1>
    <div class="card">
      <${RunPicker} project=${project} shown=${view.length} charted=${chartRuns} allCols=${allCols} columns=${columns} setColumns=${setColumns}
        search=${search} setSearch=${setSearch} filter=${filter} setFilter=${setFilter} filterError=${matched.error} groupBy=${groupBy} setGroupBy=${setGroupBy}/>
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
