// URL helpers: the query string the page was opened with (a login token taken out of the
// address bar), path encoding and client-side navigation.
export const qs = new URLSearchParams(location.search);
if (qs.has("token")) {
  // The server set an HttpOnly cookie with this response; keep the token out of history.
  qs.delete("token");
  history.replaceState(null, "", location.pathname + (qs.toString() ? "?" + qs : ""));
}

export const enc = encodeURIComponent;

// A client-side navigation: the App re-routes on popstate.
export function navigate(url) { history.pushState(null, "", url); window.dispatchEvent(new Event("popstate")); }
