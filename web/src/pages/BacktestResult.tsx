// One backtest on the backtests page: its status while it runs, then metrics, equity,
// trades and a link to the HTML report.

import { useEffect, useState } from "react";
import { api, ApiError, itemsOf } from "../api";
import { RunStatusBadge } from "../components/Badge";
import { DataTable } from "../components/DataTable";
import { TimeChart } from "../charts/TimeChart";
import { equitySeries } from "../charts/priceSeries";
import { fmtDuration, fmtMetric, signClass } from "../format";
import { Link, runPath } from "../router";
import { TRIP_COLS } from "./RunDetail";
import type { EquityPoint, Row, RunRecord } from "../types";

const POLL_MS = 700;
const ENDED = new Set(["finished", "failed", "stopped", "killed"]);

export function BacktestResult({ runId }: { runId: string }) {
  const [run, setRun] = useState<RunRecord | null>(null);
  const [result, setResult] = useState<Row | null>(null);
  const [equity, setEquity] = useState<EquityPoint[]>([]);
  const [trades, setTrades] = useState<Row[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setRun(null);
    setResult(null);
    setEquity([]);
    setTrades([]);
    setError(null);
    let alive = true;
    let timer: number | null = null;
    const poll = async () => {
      try {
        const r = await api.getRun(runId);
        if (!alive) return;
        setRun(r);
        if (r.status === "finished") {
          const [res, eq, rt] = await Promise.all([api.result(runId), api.equity(runId), api.roundTrips(runId)]);
          if (!alive) return;
          setResult(res);
          setEquity(itemsOf(eq));
          setTrades(rt);
          return;
        }
        if (ENDED.has(r.status)) return;
      } catch (e) {
        if (alive) setError(e instanceof ApiError ? e.message : String(e));
      }
      if (alive) timer = window.setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      alive = false;
      if (timer !== null) window.clearTimeout(timer);
    };
  }, [runId]);

  if (!run) return error ? <div className="error" data-testid="backtest-error">{error}</div> : <div className="dim">loading…</div>;
  const elapsed = (run.ended_at ?? Date.now() * 1e6) - (run.started_at ?? run.created_at);
  const eq = equitySeries(equity);
  return (
    <div className="panel" data-testid="backtest-run" data-run-id={run.run_id}>
      <div className="panel-head">
        <h3>
          <Link href={runPath(run.run_id)} data-testid="run-link">{run.name || run.run_id}</Link>
        </h3>
        <RunStatusBadge status={run.status} />
        <span className="dim small" data-testid="backtest-progress">
          {run.status === "running" || run.status === "created" ? "running… " : ""}
          {fmtDuration(elapsed)}
        </span>
        <span className="spacer" />
        {run.status === "finished" && (
          <a href={api.reportUrl(run.run_id)} target="_blank" rel="noreferrer" data-testid="report-link">
            HTML report
          </a>
        )}
      </div>
      {(run.error || error) && <div className="error" data-testid="backtest-error">{run.error ?? error}</div>}
      {result && (
        <div data-testid="backtest-results">
          <Metrics result={result} />
          <h3>equity</h3>
          <TimeChart series={eq.equity} height={240} testid="equity-chart" />
          <h3>drawdown %</h3>
          <TimeChart series={eq.drawdown} height={140} testid="drawdown-chart" />
          <h3>trades <span className="dim small">{trades.length}</span></h3>
          <DataTable rows={trades.slice().reverse()} testid="trades-table" empty="no trades" prefer={TRIP_COLS} />
        </div>
      )}
      <details className="config">
        <summary className="dim small">config</summary>
        <pre data-testid="run-config">{run.config}</pre>
      </details>
    </div>
  );
}

const HEADLINE = ["final_equity", "return_pct", "starting_cash", "fees", "funding", "bars", "orders", "fills", "trades", "open_trades"];
// the metrics block repeats some figures under a second name: show each once
const REPEATED = new Set(["sharpe_ratio", "sortino_ratio", "win_rate_pct", "num_trades", "start_equity", "end_equity",
  "total_return_pct", "fees_paid"]);

function Metrics({ result }: { result: Row }) {
  const metrics = (result.metrics ?? {}) as Row;
  const head = HEADLINE.filter((k) => result[k] !== undefined).map((k) => [k, result[k]] as const);
  const rest = Object.entries(metrics).filter(([k, v]) => typeof v !== "object" && !/_ts$/.test(k) && !REPEATED.has(k));
  return (
    <div className="metrics" data-testid="result-metrics">
      {[...head, ...rest].map(([k, v]) => (
        <div className="metric" key={k} data-testid={"metric-" + k}>
          <div className="label">{k.replace(/_/g, " ")}</div>
          <div className={"value num " + (/return|pnl|sharpe|sortino|calmar/.test(k) ? signClass(v) : "")}>
            {/_ns$/.test(k) && typeof v === "number" ? fmtDuration(v) : fmtMetric(v)}
          </div>
        </div>
      ))}
    </div>
  );
}
