// Formatting: run colours, times, durations, values, sizes and tick labels.

function hash(s) { let x = 2166136261; for (let i = 0; i < s.length; i++) { x ^= s.charCodeAt(i); x = Math.imul(x, 16777619); } return x >>> 0; }
export function runColor(id, alpha = 1) { const hue = (hash(id) * 137.508) % 360; return `hsla(${hue.toFixed(1)},70%,42%,${alpha})`; }

export function fmtTime(t) { return t == null ? "" : new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19); }
export function fmtDur(s) {
  if (s == null) return "";
  s = Math.round(s);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}h ${mm}m` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}
// y tick labels: uPlot's default rounds to 3 decimals (a learning rate of 3e-4 read "0").
export function fmtTick(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(1) : String(+v.toPrecision(6));
}
export function fmtVal(v) {
  if (v == null) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4));
  return String(v);
}

export function fmtBytes(n) {
  if (n == null) return "";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

// A table cell's text: media and other typed values by their type.
export function cell(v) {
  if (v == null) return "";
  if (typeof v === "object") return v._type ? `[${v._type}]` : JSON.stringify(v);
  return fmtVal(v);
}
