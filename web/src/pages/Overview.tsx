// Overview: every run, its process status and trading state, money and feed health, live
// from the all-runs stream, with a guarded kill button per run.

import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api";
import { FeedBadge, RunStatusBadge, TradingStateBadge } from "../components/Badge";
import { KillDialog, killable } from "../components/KillDialog";
import { StreamDot } from "../components/StreamDot";
import { fmtTime, signClass } from "../format";
import { Link, runPath } from "../router";
import { useEventStream } from "../sse";
import type { FeedHealth, RunRecord, RunStatusDoc } from "../types";

const REFRESH_MS = 1000;

export function Overview() {
  const [runs, setRuns] = useState<RunRecord[]>([]);
  const [live, setLive] = useState<Record<string, RunStatusDoc>>({});
  const [error, setError] = useState<string | null>(null);
  const [killing, setKilling] = useState<RunRecord | null>(null);
  const [filter, setFilter] = useState("");
  const pending = useRef<number | null>(null);

  const load = useCallback(async () => {
    try {
      const page = await api.listRuns({ limit: 200, kind: filter || undefined });
      setRuns(page.items);
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }, [filter]);

  useEffect(() => {
    void load();
  }, [load]);

  // Journal records change summaries (PnL, exposure): refetch, at most once a second.
  const refreshSoon = useCallback(() => {
    if (pending.current !== null) return;
    pending.current = window.setTimeout(() => {
      pending.current = null;
      void load();
    }, REFRESH_MS);
  }, [load]);
  useEffect(() => () => {
    if (pending.current !== null) window.clearTimeout(pending.current);
  }, []);

  const stream = useEventStream(null, {
    records: refreshSoon,
    status: (doc) => {
      if (doc.run_id) setLive((m) => ({ ...m, [doc.run_id!]: doc }));
    },
    run: (rec) => {
      setRuns((rs) => {
        const i = rs.findIndex((r) => r.run_id === rec.run_id);
        if (i < 0) return [rec, ...rs];
        const next = rs.slice();
        next[i] = { ...rs[i], ...rec, summary: rec.summary ?? rs[i]!.summary };
        return next;
      });
      refreshSoon();
    },
  });

  const previous = useRef(stream);
  useEffect(() => {
    if (stream === "live" && previous.current === "reconnecting") refreshSoon(); // caught up
    previous.current = stream;
  }, [stream, refreshSoon]);

  return (
    <section data-testid="overview-page">
      <header className="page-head">
        <h2>Runs</h2>
        <select value={filter} onChange={(e) => setFilter(e.target.value)} data-testid="kind-filter">
          <option value="">all kinds</option>
          <option value="backtest">backtest</option>
          <option value="paper">paper</option>
          <option value="live">live</option>
        </select>
        <StreamDot state={stream} />
      </header>
      {error && <div className="error" data-testid="overview-error">{error}</div>}
      <div className="table-wrap">
        <table className="grid runs" data-testid="runs-table" data-rows={runs.length}>
          <thead>
            <tr>
              <th>run</th>
              <th>kind</th>
              <th>status</th>
              <th>trading</th>
              <th className="num">equity</th>
              <th className="num">pnl</th>
              <th className="num">exposure</th>
              <th>feeds</th>
              <th>started</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {runs.length === 0 && (
              <tr className="empty">
                <td colSpan={10}>no runs yet: start one from New run or Backtests</td>
              </tr>
            )}
            {runs.map((run) => (
              <RunRow key={run.run_id} run={run} live={live[run.run_id]} onKill={() => setKilling(run)} />
            ))}
          </tbody>
        </table>
      </div>
      {killing && (
        <KillDialog
          run={killing}
          onClose={() => setKilling(null)}
          onDone={(rec) => {
            setKilling(null);
            setRuns((rs) => rs.map((r) => (r.run_id === rec.run_id ? { ...r, ...rec, summary: rec.summary ?? r.summary } : r)));
            refreshSoon();
          }}
        />
      )}
    </section>
  );
}

function RunRow({ run, live, onKill }: { run: RunRecord; live?: RunStatusDoc; onKill: () => void }) {
  const s = run.summary ?? {};
  const tradingState = live?.trading_state ?? s.trading_state;
  const equity = live?.equity ?? s.equity;
  const feeds = live?.feeds ?? s.feeds ?? [];
  return (
    <tr data-testid="run-row" data-run-id={run.run_id} data-kind={run.kind}>
      <td>
        <Link href={runPath(run.run_id)} data-testid="run-link" className="mono">
          {run.name && run.name !== run.run_id ? `${run.name} ` : ""}
          <span className="dim">{run.run_id}</span>
        </Link>
        {run.error && <div className="error small" title={run.error}>{run.error}</div>}
      </td>
      <td>{run.kind}</td>
      <td>
        <RunStatusBadge status={run.status} />
      </td>
      <td>
        <TradingStateBadge state={tradingState} />
      </td>
      <td className="num" data-testid="run-equity">{equity ?? ""}</td>
      <td className={"num " + signClass(s.pnl)} data-testid="run-pnl">{s.pnl ?? ""}</td>
      <td className="num" data-testid="run-exposure">{s.exposure ?? ""}</td>
      <td data-testid="run-feeds">
        <Feeds feeds={feeds} />
      </td>
      <td className="dim">{fmtTime(run.started_at ?? run.created_at).slice(0, 19)}</td>
      <td>
        <button className="danger small" onClick={onKill} disabled={!killable(run)} data-testid="kill-button">
          Kill
        </button>
      </td>
    </tr>
  );
}

export function Feeds({ feeds }: { feeds: FeedHealth[] }) {
  if (!feeds.length) return <span className="dim">—</span>;
  return (
    <span className="feeds">
      {feeds.map((f, i) => (
        <span key={i} className="feed" title={`${f.venue ?? ""} ${f.symbol ?? ""} ${f.stream ?? ""}: ${f.state ?? "?"}, lag ${f.lag_ms ?? "?"} ms, ${f.reconnects ?? 0} reconnects`}>
          <FeedBadge state={f.state} />
          {f.stream ?? f.symbol}
          {typeof f.lag_ms === "number" && <span className="dim"> {f.lag_ms}ms</span>}
        </span>
      ))}
    </span>
  );
}
