// Backtests: a launch form built from the server's strategy list, the chosen run's
// progress, then its results (metrics, equity, trades, the HTML report).

import { useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError, itemsOf } from "../api";
import { RunStatusBadge } from "../components/Badge";
import { navigate } from "../router";
import type { DataFile, RunRecord, StrategyInfo } from "../types";
import { BacktestResult } from "./BacktestResult";
import { StrategyFields } from "../components/ParamFields";
import { backtestToml, defaultParams, paramsOf, type BacktestForm } from "./launchConfig";
import { fmtTime } from "../format";

const EMPTY: BacktestForm = { strategy: "", data: "", symbol: "", cash: "100000", fee_bps: "4", slippage_bps: "", params: {} };

export function Backtests({ runId }: { runId: string | null }) {
  const [recent, setRecent] = useState<RunRecord[]>([]);
  const loadRecent = useCallback(() => {
    api.listRuns({ kind: "backtest", limit: 25 }).then((p) => setRecent(p.items)).catch(() => undefined);
  }, []);
  useEffect(() => {
    loadRecent();
    const id = window.setInterval(loadRecent, 3000);
    return () => window.clearInterval(id);
  }, [loadRecent]);

  return (
    <section data-testid="backtests-page">
      <header className="page-head">
        <h2>Backtests</h2>
      </header>
      <div className="cols wide-right">
        <div>
          <LaunchForm
            onLaunched={(run) => {
              loadRecent();
              navigate("/backtests?run=" + encodeURIComponent(run.run_id));
            }}
          />
          <div className="panel">
            <h3>recent</h3>
            <ul className="runlist" data-testid="backtest-list">
              {recent.map((r) => (
                <li key={r.run_id} className={r.run_id === runId ? "current" : ""}>
                  <a
                    href={"/backtests?run=" + encodeURIComponent(r.run_id)}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate("/backtests?run=" + encodeURIComponent(r.run_id));
                    }}
                    data-testid="backtest-link"
                  >
                    {r.name || r.run_id}
                  </a>{" "}
                  <RunStatusBadge status={r.status} /> <span className="dim small">{fmtTime(r.created_at).slice(5, 19)}</span>
                </li>
              ))}
              {recent.length === 0 && <li className="dim">none yet</li>}
            </ul>
          </div>
        </div>
        <div>{runId ? <BacktestResult runId={runId} /> : <div className="panel dim">Launch a backtest, or pick one on the left.</div>}</div>
      </div>
    </section>
  );
}

function LaunchForm({ onLaunched }: { onLaunched: (run: RunRecord) => void }) {
  const [strategies, setStrategies] = useState<StrategyInfo[]>([]);
  const [files, setFiles] = useState<DataFile[]>([]);
  const [form, setForm] = useState<BacktestForm>(EMPTY);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api
      .strategies()
      .then((s) => {
        const list = itemsOf(s);
        setStrategies(list);
        setForm((f) => (f.strategy || !list[0] ? f : withStrategy(f, list[0])));
      })
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)));
    api
      .dataFiles()
      .then((d) => {
        const list = itemsOf(d);
        setFiles(list);
        setForm((f) => (f.data || !list[0] ? f : { ...f, data: list[0].path }));
      })
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)));
  }, []);

  const strategy = strategies.find((s) => s.name === form.strategy);
  const specs = useMemo(() => paramsOf(strategy), [strategy]);
  const set = (k: keyof BacktestForm, v: string) => setForm((f) => ({ ...f, [k]: v }));

  const launch = async () => {
    setBusy(true);
    setError(null);
    try {
      const config = backtestToml(form, specs);
      const run = await api.createRun({ kind: "backtest", config, name: name.trim() || undefined, start: true });
      onLaunched(run);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="panel form"
      data-testid="backtest-form"
      onSubmit={(e) => {
        e.preventDefault();
        void launch();
      }}
    >
      <h3>launch</h3>
      <StrategyFields
        strategies={strategies}
        strategy={strategy}
        specs={specs}
        values={form.params}
        onStrategy={(s) => setForm((f) => withStrategy(f, s))}
        onParam={(name, value) => setForm((f) => ({ ...f, params: { ...f.params, [name]: value } }))}
      />
      <label className="field">
        <span>data</span>
        <select value={form.data} onChange={(e) => set("data", e.target.value)} data-testid="data-file-select">
          {files.map((f) => <option key={f.path} value={f.path}>{f.path}</option>)}
        </select>
      </label>
      <label className="field">
        <span>symbol</span>
        <input value={form.symbol} placeholder="from the file" onChange={(e) => set("symbol", e.target.value)} data-testid="symbol-input" />
      </label>
      <div className="row3">
        <label className="field">
          <span>cash</span>
          <input value={form.cash} onChange={(e) => set("cash", e.target.value)} data-testid="cash-input" />
        </label>
        <label className="field">
          <span>fee bps</span>
          <input value={form.fee_bps} onChange={(e) => set("fee_bps", e.target.value)} data-testid="fee-input" />
        </label>
        <label className="field">
          <span>slippage bps</span>
          <input value={form.slippage_bps} placeholder="0" onChange={(e) => set("slippage_bps", e.target.value)} data-testid="slippage-input" />
        </label>
      </div>
      <label className="field">
        <span>name</span>
        <input value={name} placeholder="optional" onChange={(e) => setName(e.target.value)} data-testid="name-input" />
      </label>
      {error && <div className="error" data-testid="launch-error">{error}</div>}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || !form.strategy || !form.data} data-testid="launch-button">
          {busy ? "Launching…" : "Launch backtest"}
        </button>
      </div>
    </form>
  );
}

function withStrategy(f: BacktestForm, s: StrategyInfo): BacktestForm {
  return { ...f, strategy: s.name, params: defaultParams(s) };
}
