// Runs as rows: column values, ordering, grouping and group aggregates (used by the runs
// table, the run picker and the charts' group lines). The filter box is evaluated by the
// server (filter.js).
import { fmtVal } from "./format.js";

export function getCol(run, col) {
  if (col.startsWith("config.")) return run.config[col.slice(7)];
  if (col.startsWith("summary.")) return run.summary[col.slice(8)];
  return run[col];
}
export function cmp(a, b) {
  if (a == null && b == null) return 0; if (a == null) return 1; if (b == null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

// Group runs by a column (state, group, tags, a config or summary key): groups sorted by
// their value, runs keep their order inside a group.
export function groupRuns(runs, by) {
  const groups = new Map();
  for (const r of runs) {
    let v = by === "tags" ? (r.tags.length ? r.tags.join(", ") : null) : getCol(r, by);
    if (v !== null && typeof v === "object") v = JSON.stringify(v);
    const k = v === undefined || v === null ? "∅" : typeof v === "number" ? v : String(v);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  return [...groups.entries()].sort((a, b) => (a[0] === "∅") - (b[0] === "∅") || cmp(a[0], b[0])).map(([value, rs]) => ({ value, label: String(value), runs: rs }));
}
// Aggregate of a column over a group: numbers give mean/min/max, other values the common one.
export function aggregate(rs, col) {
  const vals = rs.map((r) => getCol(r, col)).filter((v) => v !== undefined && v !== null);
  if (!vals.length) return { text: "" };
  const nums = vals.filter((v) => typeof v === "number" && Number.isFinite(v));
  const same = vals.every((v) => v === vals[0]);
  if (same) return { text: fmtVal(vals[0]), title: String(vals[0]) };
  if (nums.length === vals.length) {
    const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
    const lo = Math.min(...nums), hi = Math.max(...nums);
    return { text: fmtVal(mean), sub: `${fmtVal(lo)}–${fmtVal(hi)}`, title: `mean ${mean} · min ${lo} · max ${hi} · n ${nums.length}`, mean, min: lo, max: hi };
  }
  return { text: `${new Set(vals.map(String)).size} values`, title: [...new Set(vals.map(String))].join(", ") };
}

// The runs shown: matching the search (name, id or tag) and in `ids` (the filter box's
// runs, null: no filter), in the sort's order.
export function pickRuns(runs, search, ids, sort) {
  const s = search.toLowerCase();
  const out = runs.filter((r) => (!ids || ids.has(r.id)) && (!s || r.name.toLowerCase().includes(s) || r.id.toLowerCase().includes(s) || r.tags.some((t) => t.toLowerCase().includes(s))));
  out.sort((a, b) => sort.dir * cmp(getCol(a, sort.col), getCol(b, sort.col)));
  return out;
}
