// The artifacts page of a project.
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { fmtBytes, fmtTime } from "../format.js";

// Artifacts of a project: versions (newest first) with aliases, then the files of one.
export function ArtifactsPage({ project }) {
  const [arts, setArts] = useState(null);
  const [error, setError] = useState(null);
  const [pick, setPick] = useState(null); // [name, number]
  const [files, setFiles] = useState(null);
  useEffect(() => { api(`/projects/${enc(project)}/artifacts`).then((a) => { setArts(a); if (a.length && a[0].versions.length) setPick([a[0].name, a[0].versions[0].number]); }, (e) => setError(String(e))); }, [project]);
  useEffect(() => {
    setFiles(null);
    if (pick) api(`/projects/${enc(project)}/artifacts/${enc(pick[0])}/v/${pick[1]}/files`).then(setFiles, (e) => setError(String(e)));
  }, [pick && pick.join(":")]);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!arts) return html`<main class="muted">loading…</main>`;
  return html`<main id="artifacts" data-ready="1" data-count=${arts.length}>
    <h1>Artifacts <span class="muted">${project}</span></h1>
    ${arts.length ? null : html`<p class="muted">No artifacts logged in this project.</p>`}
    ${arts.map((a) => html`<div class="card" data-artifact=${a.name}>
      <h2>${a.name} <span class="tag">${a.type}</span> <span class="muted">${a.versions.length} versions</span></h2>
      <table class="runs wide"><thead><tr><th>version</th><th>aliases</th><th>size</th><th>created</th><th>logged by</th><th>digest</th></tr></thead>
      <tbody>${a.versions.map((v) => html`<tr data-version=${v.number} class=${pick && pick[0] === a.name && pick[1] === v.number ? "picked" : ""} onClick=${() => setPick([a.name, v.number])} style="cursor:pointer">
        <td><a href="#" onClick=${(e) => { e.preventDefault(); setPick([a.name, v.number]); }}>${v.version}</a></td>
        <td>${v.aliases.map((al) => html`<span class="tag" data-alias=${al}>${al}</span>`)}</td>
        <td>${fmtBytes(v.size)}</td><td>${fmtTime(v.created)}</td>
        <td>${v.run_id ? html`<${Link} href=${`/projects/${enc(project)}/runs/${enc(v.run_id)}`}>${v.run_id}<//>` : html`<span class="muted">–</span>`}</td>
        <td title=${v.digest || ""}><code>${(v.digest || "").slice(0, 12)}</code></td></tr>`)}</tbody></table></div>`)}
    ${pick ? html`<div class="card" id="artifact-files" data-ready=${files ? "1" : "0"} data-artifact=${pick[0]} data-version=${pick[1]} data-count=${files ? files.count : 0}>
      <h2>Files of ${pick[0]}:v${pick[1]} ${files ? html`<span class="muted">${files.count} entries</span>` : null}</h2>
      ${files ? html`<table class="runs wide"><thead><tr><th>path</th><th>size</th><th>digest / reference</th></tr></thead>
        <tbody>${files.files.map((f) => html`<tr data-path=${f.path}><td>${f.path}</td><td>${fmtBytes(f.size)}</td><td title=${f.ref || f.digest || ""}>${f.ref ? f.ref : html`<code>${(f.digest || "").slice(0, 19)}</code>`}</td></tr>`)}</tbody></table>` : html`<span class="muted">loading…</span>`}
    </div>` : null}
  </main>`;
}
