// A run's page: overview (config, summary, metadata), charts, system metrics, console,
// files, media, histograms and tables, in tabs; reloaded when the run changes.
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { api, apiUrl, useLive } from "../api.js";
import { enc, qs } from "../url.js";
import { fmtDur, fmtTime, fmtVal, runColor } from "../format.js";
import { ChartControls, ChartPanel, SmallChart } from "../components/chart.js";
import { TableView } from "../components/data-table.js";
import { HistogramHeatmap } from "../components/histogram.js";
import { MediaViewer } from "../components/media.js";

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

export function RunPage({ project, runId }) {
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
    ${tab === "files" ? html`<div class="card" id="files">${info.files.length ? html`<ul>${info.files.map((f) => html`<li><a href=${apiUrl(`/projects/${enc(project)}/runs/${enc(runId)}/files/${f.split("/").map(enc).join("/")}`)}>${f}</a></li>`)}</ul>` : html`<span class="muted">No files saved.</span>`}</div>` : null}
    ${tab === "histograms" ? html`<div id="histograms" data-count=${info.histograms.length}>${info.histograms.length ? info.histograms.map((k) => html`<${HistogramHeatmap} key=${k} project=${project} runId=${runId} hkey=${k}/>`) : html`<span class="muted">No histograms.</span>`}</div>` : null}
    ${tab === "tables" ? html`<div id="tables" data-count=${info.tables.length}>${info.tables.length ? info.tables.map((k) => html`<${TableView} key=${k} project=${project} runId=${runId} tkey=${k}/>`) : html`<span class="muted">No tables.</span>`}</div>` : null}
    ${tab === "media" ? html`<div id="media">${Object.keys(info.media).length ? Object.keys(info.media).map((k) => html`<${MediaViewer} key=${k} project=${project} runId=${runId} mkey=${k}/>`) : html`<span class="muted">No media.</span>`}</div>` : null}
  </main>`;
}
