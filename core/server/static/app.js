// tracker dashboard: Preact + htm components, uPlot charts, one EventSource per tab.
// The entry module: the header, the route table (which page a path shows) and the pages'
// loading. Layers (tests/server/test_static_modules.py checks them): js/*.js (the API
// client, URL helpers, formatting, templates and the in-app link, run rows) import no
// component; js/components/ (chart, runs table, run picker, ...) import no page;
// js/pages/ are one module per page.
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html, Link } from "./js/html.js";
import { enc } from "./js/url.js";
import { Project } from "./js/pages/project.js";
import { Projects } from "./js/pages/projects.js";

// The projects list and a project's workspace load with the app (index.html preloads
// them); the other pages load when first shown, with the components only they use.
const loaded = new Map([["Projects", Projects], ["Project", Project]]);
const LAZY = {
  RunPage: () => import("./js/pages/run.js"),
  ComparePage: () => import("./js/pages/compare.js"),
  ArtifactsPage: () => import("./js/pages/artifacts.js"),
  RegistryPage: () => import("./js/pages/registry.js"),
  SweepsPage: () => import("./js/pages/sweeps.js"),
  SweepPage: () => import("./js/pages/sweeps.js"),
};

// Which page a path shows: [the page's export name, its props, a key remounting it].
function route(parts, search) {
  const [top, project, kind, id] = parts;
  if (top === "projects" && parts.length >= 4 && kind === "runs") return ["RunPage", { project, runId: id }, id];
  if (top === "projects" && parts.length >= 3 && kind === "artifacts") return ["ArtifactsPage", { project }, project];
  if (top === "registry") return ["RegistryPage", {}, ""];
  if (top === "projects" && parts.length >= 4 && kind === "sweeps") return ["SweepPage", { project, sweepId: id }, id];
  if (top === "projects" && parts.length >= 3 && kind === "sweeps") return ["SweepsPage", { project }, project];
  if (top === "projects" && parts.length >= 3 && kind === "compare") return ["ComparePage", { project }, search];
  if (top === "projects" && parts.length >= 2) return ["Project", { project }, project];
  return ["Projects", {}, ""];
}

function Page({ name, props }) {
  const [, setLoads] = useState(0);
  const [error, setError] = useState(null);
  const component = loaded.get(name);
  useEffect(() => {
    if (!component) LAZY[name]().then((m) => { loaded.set(name, m[name]); setLoads((n) => n + 1); }, (e) => setError(String(e)));
  }, [name]);
  if (error) return html`<main><div class="error">${error}</div></main>`;
  return component ? h(component, props) : html`<main class="muted">loading…</main>`;
}

function App() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => { const f = () => setPath(location.pathname); window.addEventListener("popstate", f); return () => window.removeEventListener("popstate", f); }, []);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [name, props, key] = route(parts, location.search);
  return html`<header><${Link} class="brand" href="/">tracker<//><${Link} href="/registry" data-testid="registry-link">registry<//>${parts[1] ? html`<${Link} href=${`/projects/${enc(parts[1])}`}>${parts[1]}<//><${Link} href=${`/projects/${enc(parts[1])}/artifacts`} data-testid="artifacts-link">artifacts<//><${Link} href=${`/projects/${enc(parts[1])}/sweeps`} data-testid="sweeps-link">sweeps<//>` : null}</header><${Page} key=${name + ":" + key} name=${name} props=${props}/>`;
}

render(html`<${App}/>`, document.getElementById("app"));
