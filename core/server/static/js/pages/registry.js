// The model registry page.
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { fmtBytes, fmtTime } from "../format.js";

// The model registry: collections (artifacts of the reserved project "model-registry"),
// their versions with aliases and the source artifact version each links.
export function RegistryPage() {
  const [cols, setCols] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api("/registry").then(setCols, (e) => setError(String(e))); }, []);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  if (!cols) return html`<main class="muted">loading…</main>`;
  return html`<main id="registry" data-ready="1" data-count=${cols.length}>
    <h1>Model registry</h1>
    ${cols.length ? null : html`<p class="muted">No collections yet: link a model with <code>run.link_artifact(art, "model-registry/NAME")</code>.</p>`}
    ${cols.map((c) => html`<div class="card" data-collection=${c.name}>
      <h2>${c.name} <span class="tag">${c.type}</span> <span class="muted">${c.versions.length} versions</span></h2>
      <table class="runs wide"><thead><tr><th>version</th><th>aliases</th><th>source</th><th>logged by</th><th>size</th><th>created</th><th>digest</th></tr></thead>
      <tbody>${c.versions.map((v) => html`<tr data-version=${v.number}>
        <td>${v.version}</td>
        <td>${v.aliases.map((al) => html`<span class="tag" data-alias=${al}>${al}</span>`)}</td>
        <td data-source=${v.source ? `${v.source.project}/${v.source.name}:v${v.source.version}` : ""}>${v.source ? html`<${Link} href=${`/projects/${enc(v.source.project)}/artifacts`}>${v.source.project}/${v.source.name}:v${v.source.version}<//>` : html`<span class="muted">–</span>`}</td>
        <td>${v.run_id && v.source ? html`<${Link} href=${`/projects/${enc(v.source.project)}/runs/${enc(v.run_id)}`}>${v.run_id}<//>` : html`<span class="muted">${v.run_id || "–"}</span>`}</td>
        <td>${fmtBytes(v.size)}</td><td>${fmtTime(v.created)}</td>
        <td title=${v.digest || ""}><code>${(v.digest || "").slice(0, 12)}</code></td></tr>`)}</tbody></table></div>`)}
  </main>`;
}
