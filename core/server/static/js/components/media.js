// A run's logged media at one step, with a slider over the steps that have any.
import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";
import { api, apiUrl } from "../api.js";
import { enc } from "../url.js";

// Stored as files (W&B's formats) and offered for download: no viewer is bundled for them.
const DOWNLOADS = ["object3D-file", "molecule-file", "plotly-file"];

export function MediaViewer({ project, runId, mkey }) {
  const [info, setInfo] = useState(null);
  const [idx, setIdx] = useState(0);
  useEffect(() => { api(`/projects/${enc(project)}/runs/${enc(runId)}/media/${enc(mkey)}/steps`).then((r) => { setInfo(r); setIdx(r.steps.length - 1); }); }, [mkey]);
  if (!info) return html`<div class="muted">loading…</div>`;
  if (!info.steps.length) return html`<div class="muted">nothing logged</div>`;
  const s = info.steps[Math.max(0, Math.min(idx, info.steps.length - 1))];
  const base = apiUrl(`/projects/${enc(project)}/runs/${enc(runId)}/media/${enc(mkey)}/at/${s.step}`);
  return html`<div class="panel media" data-media=${mkey} data-step=${s.step}>
    <div class="title"><span>${mkey}</span><span>step ${s.step}</span></div>
    <input type="range" min="0" max=${info.steps.length - 1} value=${idx} data-testid="step-slider" style="width:100%" onInput=${(e) => setIdx(Number(e.target.value))}/>
    <div>${s.items.map((it) => it.type === "image-file" ? html`<figure><img src=${`${base}/${it.index}`} alt=${it.caption || mkey}/>${it.caption ? html`<figcaption>${it.caption}</figcaption>` : null}</figure>`
      : it.type === "html-file" ? html`<iframe sandbox="" src=${`${base}/${it.index}`} style="width:100%;height:300px;border:1px solid #ddd"></iframe>`
      : it.type === "audio-file" ? html`<audio controls src=${`${base}/${it.index}`}></audio>`
      : it.type === "video-file" ? html`<video controls src=${`${base}/${it.index}`} style="max-width:100%"></video>`
      : DOWNLOADS.includes(it.type) ? html`<a href=${`${base}/${it.index}`} download data-testid="media-download">download ${it.type.replace("-file", "")} (${it.format})${it.caption ? `: ${it.caption}` : ""}</a>`
      : html`<span class="muted">${it.type}</span>`)}</div></div>`;
}
