// The filter box, evaluated by the server: its text goes to /api/projects/<p>/filter, which
// parses it with tracker.api._filter_text (the grammar Api's filter dicts come from) and
// answers the ids of the runs it selects, or {detail, position} for a malformed text.
import { useEffect, useRef, useState } from "preact/hooks";
import { apiResult } from "./api.js";
import { enc } from "./url.js";

const TYPING_MS = 250; // the box is debounced: one request once typing pauses
const LIVE_MS = 1000; // live updates (new runs, new summaries) re-evaluate at most this often

// {ids: Set of the matching run ids (null: no filter), error: {detail, position} | null}.
// `runs` changing (the live stream) re-evaluates the current text.
export function useServerFilter(project, text, runs) {
  const [state, setState] = useState({ ids: null, error: null });
  const timer = useRef(null);
  const seq = useRef(0);
  const current = useRef(text);

  const evaluate = async () => {
    timer.current = null;
    const q = current.current.trim();
    const mine = ++seq.current;
    if (!q) { setState({ ids: null, error: null }); return; }
    let next;
    try {
      const { ok, body } = await apiResult(`/projects/${enc(project)}/filter?q=${enc(q)}`);
      next = ok ? { ids: new Set(body.ids), error: null } : { ids: null, error: { detail: String(body.detail), position: body.position ?? null } };
    } catch (e) {
      next = { ids: null, error: { detail: String(e), position: null } };
    }
    if (mine === seq.current) setState((old) => (sameAnswer(next, old) ? old : next));
  };
  const schedule = (ms, restart) => {
    if (timer.current && !restart) return;
    clearTimeout(timer.current);
    timer.current = setTimeout(evaluate, ms);
  };

  useEffect(() => { current.current = text; schedule(text.trim() ? TYPING_MS : 0, true); }, [project, text]);
  useEffect(() => { if (runs && current.current.trim()) schedule(LIVE_MS, false); }, [runs]);
  useEffect(() => () => clearTimeout(timer.current), []);
  return state;
}

// The same answer as before (keeps the table's memo when a live re-evaluation changes nothing).
function sameAnswer(next, old) {
  if (next.error || old.error) return JSON.stringify(next.error) === JSON.stringify(old.error) && !next.ids === !old.ids;
  if (!next.ids || !old.ids) return next.ids === old.ids;
  return next.ids.size === old.ids.size && [...next.ids].every((id) => old.ids.has(id));
}

// ?sort= in the URL: "-created" (descending) or "summary.loss" (ascending).
export function parseSort(text) {
  if (!text) return { col: "created", dir: -1 };
  return text.startsWith("-") ? { col: text.slice(1), dir: -1 } : { col: text.replace(/^\+/, ""), dir: 1 };
}
export function sortParam(sort) { return (sort.dir < 0 ? "-" : "") + sort.col; }

// Write (or remove, for an empty value) query parameters of the address, keeping the others.
export function writeParams(params) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) { if (v) q.set(k, v); else q.delete(k); }
  const s = q.toString();
  if (s !== location.search.replace(/^\?/, "")) history.replaceState(history.state, "", location.pathname + (s ? "?" + s : "") + location.hash);
}
