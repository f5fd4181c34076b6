// The API client: every fetch and event stream of the dashboard goes through this module
// (JSON GETs and POSTs, the binary series payload, the project's live event stream and its
// hook), and apiUrl() builds the addresses that media and file links load.
import { useEffect, useRef } from "preact/hooks";
import { enc } from "./url.js";

// A team server's session ended (tracker ui's wrong-token 401 is plain text): to the login
// page, back here afterwards. Any other failure throws "<status> <body>".
async function checked(res) {
  if (res.status === 401 && (res.headers.get("content-type") || "").includes("json")) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res;
}

// X-Tracker-CSRF: a team server refuses cookie-authenticated writes without it.
function post(body) {
  return { method: "POST", headers: { "Content-Type": "application/json", "X-Tracker-CSRF": "1" }, body: JSON.stringify(body) };
}

// The address of an API path ("/projects/p/runs/r/files/x" -> "/api/projects/...").
export function apiUrl(path) { return "/api" + path; }

export async function api(path, body) {
  const res = await fetch(apiUrl(path), { credentials: "same-origin", ...(body === undefined ? {} : post(body)) });
  return (await checked(res)).json();
}

// A GET whose refusal is an answer too (the filter box's 400 {detail, position}):
// {ok, status, body}; a 401 still goes to the login page.
export async function apiResult(path) {
  const res = await fetch(apiUrl(path), { credentials: "same-origin" });
  if (res.status === 401) await checked(res);
  const body = await res.json().catch(() => ({ detail: `${res.status} ${res.statusText}` }));
  return { ok: res.ok, status: res.status, body };
}

// POST /api/series in its binary encoding (tracker.server._series): a uint32 header length,
// a JSON header, then float64 arrays. Each view gets typed-array views of the buffer.
export async function seriesApi(body) {
  const res = await checked(await fetch(apiUrl("/series"), { credentials: "same-origin", ...post({ ...body, format: "binary" }) }));
  const buf = await res.arrayBuffer();
  const n = new DataView(buf).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const data = 4 + n;
  for (const per of Object.values(head.series)) {
    for (const s of Object.values(per)) {
      s.fields.forEach((f, i) => { s[f] = new Float64Array(buf, data + s.offset + 8 * i * s.len, s.len); });
      delete s.fields; delete s.offset; delete s.len;
    }
  }
  return head;
}

// A copy of a series payload with plain arrays (what tests and the console read).
export function plainPayload(res) {
  const series = {};
  for (const [key, per] of Object.entries(res.series)) {
    series[key] = {};
    for (const [id, s] of Object.entries(per)) series[key][id] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v) : v]));
  }
  return { ...res, series };
}

// The project page's first requests start while the modules are still being evaluated
// (not after the first render); first() hands each prefetched answer out once.
const prefetched = new Map();
{
  const m = location.pathname.match(/^\/projects\/([^/]+)\/?$/);
  if (m) for (const part of ["runs", "keys"]) { const p = `/projects/${m[1]}/${part}`; const r = api(p); r.catch(() => {}); prefetched.set(p, r); }
}
export function first(path) { const p = prefetched.get(path); prefetched.delete(path); return p || api(path); }

// ------------------------------------------------------------------ live stream (one per tab)
const live = { listeners: new Set(), es: null, project: null };
function liveOpen(project) {
  live.project = project;
  if (live.es) { live.es.close(); live.es = null; }
  if (!project || document.visibilityState === "hidden") return;
  const es = new EventSource(apiUrl(`/events?project=${enc(project)}`));
  es.addEventListener("runs", (ev) => { const msg = JSON.parse(ev.data); for (const fn of live.listeners) fn(msg); });
  live.es = es;
  document.body.dataset.live = "open";
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") { if (live.es) { live.es.close(); live.es = null; document.body.dataset.live = "closed"; } }
  else if (live.project) liveOpen(live.project);
});
// Listens to the project's "runs" events (one EventSource per tab, shared by all listeners,
// closed while the tab is hidden); the returned function stops listening.
export function subscribe(project, listener) {
  live.listeners.add(listener);
  liveOpen(project);
  return () => { live.listeners.delete(listener); if (live.listeners.size === 0 && live.es) { live.es.close(); live.es = null; live.project = null; } };
}

// useLive(project, fn): fn gets each "runs" event while the component is mounted (the
// latest fn, without re-subscribing).
export function useLive(project, fn) {
  const ref = useRef(fn); ref.current = fn;
  useEffect(() => subscribe(project, (m) => ref.current(m)), [project]);
}
