// Client-side routing on the History API: five pages do not need a router library.
// heron serve answers index.html for any non-API path, so deep links and reloads work.

import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

export type Route =
  | { page: "overview" }
  | { page: "run"; runId: string }
  | { page: "new-run" }
  | { page: "backtests"; runId: string | null }
  | { page: "data" }
  | { page: "missing"; path: string };

export function parseRoute(path: string, search: string): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "overview" };
  if (parts[0] === "runs" && parts[1] === "new" && parts.length === 2) return { page: "new-run" }; // no run id is "new"
  if (parts[0] === "runs" && parts.length === 2) return { page: "run", runId: parts[1]! };
  if (parts[0] === "backtests" && parts.length === 1) {
    return { page: "backtests", runId: new URLSearchParams(search).get("run") };
  }
  if (parts[0] === "data" && parts.length === 1) return { page: "data" };
  return { page: "missing", path };
}

const EVENT = "heron:navigate";

export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(EVENT));
}

export function useRoute(): Route {
  const read = () => parseRoute(window.location.pathname, window.location.search);
  const [route, setRoute] = useState<Route>(read);
  useEffect(() => {
    const update = () => setRoute(read());
    window.addEventListener("popstate", update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return route;
}

/** An <a> that navigates in-page on a plain click and behaves as a link otherwise. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={click} {...rest} />;
}

export function runPath(runId: string): string {
  return "/runs/" + encodeURIComponent(runId);
}
