// The projects list (the home page).
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "../html.js";
import { api } from "../api.js";
import { enc } from "../url.js";
import { fmtTime } from "../format.js";

export function Projects() {
  const [list, setList] = useState(null);
  useEffect(() => { api("/projects").then(setList); }, []);
  return html`<main><h1>Projects</h1>
    <div class="card" id="projects" data-ready=${list ? "1" : "0"}>
      ${list && list.length === 0 ? html`<p class="muted">No projects yet: log a run with <code>tracker.init(project=...)</code>.</p>` : null}
      <table class="kv">${(list || []).map((p) => html`<tr><td><${Link} href=${`/projects/${enc(p.name)}`}>${p.name}<//></td><td>${p.run_count} runs</td><td>${fmtTime(p.last_created)}</td></tr>`)}</table>
    </div></main>`;
}
