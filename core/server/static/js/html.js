// What every component renders with: htm bound to Preact's h (html`...` templates, no build
// step, no JSX) and the in-app link.
import { h } from "preact";
import htm from "htm";
import { navigate } from "./url.js";

export const html = htm.bind(h);

// An in-app link: a plain left click navigates without reloading the page.
export function Link({ href, children, ...rest }) {
  return html`<a href=${href} onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey) { e.preventDefault(); navigate(href); } }} ...${rest}>${children}</a>`;
}
