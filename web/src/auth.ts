// The API token: taken from `?token=` in the page URL once, kept in sessionStorage (so it
// survives client-side navigation and reloads of this tab, and dies with the tab), and
// removed from the address bar so it does not end up in bookmarks or screenshots.

const KEY = "heron.token";

export function captureToken(): void {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token === null) return;
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
  url.searchParams.delete("token");
  window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
}

export function token(): string | null {
  return sessionStorage.getItem(KEY);
}

/** Adds `?token=` to a same-origin URL for what cannot send headers (EventSource, links). */
export function withToken(path: string): string {
  const t = token();
  if (!t) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
}
