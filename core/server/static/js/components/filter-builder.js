// The structured filter builder beside the filter box: a key, an operator and a value become
// one condition appended to the box's text, so the box stays the one grammar the server parses
// (tracker.api._filter_text) and the URL keeps a single ?filter=.
import { useState } from "preact/hooks";
import { html } from "../html.js";

const FIELDS = ["state", "name", "id", "tags", "group", "job_type", "created"];
const OPS = ["=", "!=", "<", "<=", ">", ">=", "~", "!~"];

// A value as the grammar reads it: a number, true/false/null or a plain word stays bare;
// anything with spaces or the grammar's own characters is quoted.
export function quoteValue(v) {
  if (/^[^\s<>=!~:()"'\\]+$/.test(v)) return v;
  return '"' + v.replace(/[\\"]/g, (c) => "\\" + c) + '"';
}
function quoteKey(k) { return /^[^\s<>=!~:()"'\\]+$/.test(k) ? k : quoteValue(k); }

export function FilterBuilder({ allCols, filter, setFilter }) {
  const [key, setKey] = useState("");
  const [op, setOp] = useState("=");
  const [value, setValue] = useState("");
  const [keysShown, setKeysShown] = useState(false); // the key list (thousands of columns) is built on first focus
  const add = (e) => {
    e.preventDefault();
    if (!key.trim() || !value.trim()) return;
    const cond = `${quoteKey(key.trim())}${op}${quoteValue(value.trim())}`;
    setFilter(filter.trim() ? `${filter.trim()} ${cond}` : cond);
    setValue("");
  };
  return html`<form class="filter-builder" data-testid="filter-builder" onSubmit=${add}>
    <input list="filter-keys" placeholder="key" aria-label="filter key" data-testid="fb-key" value=${key} onFocus=${() => setKeysShown(true)} onInput=${(e) => setKey(e.target.value)}/>
    ${keysShown ? html`<datalist id="filter-keys">${[...FIELDS, ...allCols].map((c) => html`<option value=${c}/>`)}</datalist>` : null}
    <select aria-label="filter operator" data-testid="fb-op" value=${op} onChange=${(e) => setOp(e.target.value)}>${OPS.map((o) => html`<option value=${o}>${o}</option>`)}</select>
    <input placeholder="value" aria-label="filter value" data-testid="fb-value" value=${value} onInput=${(e) => setValue(e.target.value)}/>
    <button type="submit" data-testid="fb-add" disabled=${!key.trim() || !value.trim()}>add filter</button>
  </form>`;
}
