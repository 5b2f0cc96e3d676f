// The shell: top bar with navigation, who we are, server health; the page for the URL.

import { useEffect, useState } from "react";
import { api } from "./api";
import { loadMe } from "./role";
import { Link, useRoute, type Route } from "./router";
import { Backtests } from "./pages/Backtests";
import { Data } from "./pages/Data";
import { NewRun } from "./pages/NewRun";
import { Overview } from "./pages/Overview";
import { RunDetail } from "./pages/RunDetail";
import type { Health, Me } from "./types";

export function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);
  const [health, setHealth] = useState<Health | null>(null);
  const [down, setDown] = useState(false);

  useEffect(() => {
    loadMe().then(setMe).catch(() => setMe(null));
    const check = () =>
      api
        .health()
        .then((h) => {
          setHealth(h);
          setDown(false);
        })
        .catch(() => setDown(true));
    void check();
    const id = window.setInterval(check, 10000);
    return () => window.clearInterval(id);
  }, []);

  return (
    <div className="app">
      <nav className="top">
        <span className="brand">heron</span>
        <NavLink href="/" active={route.page === "overview" || route.page === "run"} testid="nav-overview">Runs</NavLink>
        <NavLink href="/runs/new" active={route.page === "new-run"} testid="nav-new-run">New run</NavLink>
        <NavLink href="/backtests" active={route.page === "backtests"} testid="nav-backtests">Backtests</NavLink>
        <NavLink href="/data" active={route.page === "data"} testid="nav-data">Data</NavLink>
        <span className="spacer" />
        {down && <span className="badge bad" data-testid="server-down">server unreachable</span>}
        {health && <span className="dim small" data-testid="server-version">v{health.version}</span>}
        {me && <span className="badge muted" data-testid="role">{me.role}</span>}
      </nav>
      <main>
        <Page route={route} />
      </main>
    </div>
  );
}

function NavLink({ href, active, testid, children }: { href: string; active: boolean; testid: string; children: string }) {
  return (
    <Link href={href} className={active ? "active" : ""} data-testid={testid}>
      {children}
    </Link>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "overview":
      return <Overview />;
    case "run":
      return <RunDetail key={route.runId} runId={route.runId} />;
    case "new-run":
      return <NewRun />;
    case "backtests":
      return <Backtests runId={route.runId} />;
    case "data":
      return <Data />;
    case "missing":
      return <div className="error">No page at {route.path}.</div>;
  }
}
