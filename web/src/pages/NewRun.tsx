// New run: a paper or live run from a strategy, its parameters and the venue options,
// sent as the TOML config `POST /api/runs` takes (and started at once). The config is
// shown as it will be sent; the server checks it and its one-line refusal is shown here.
// A live run asks for a "real money" confirmation first. Viewers see no form.

import { useEffect, useMemo, useState } from "react";
import { api, ApiError, itemsOf } from "../api";
import { LiveConfirm } from "../components/LiveConfirm";
import { StrategyFields } from "../components/ParamFields";
import { canTrade, useRole } from "../role";
import { navigate, runPath } from "../router";
import type { StrategyInfo } from "../types";
import { defaultParams, paramsOf, RUN_OPTIONS, runToml, symbolList, VENUES, type RunForm, type RunOption, type TradingKind } from "./launchConfig";

const EMPTY: RunForm = { kind: "paper", strategy: "", venue: "binanceusdm", symbols: "", testnet: false, options: {}, params: {} };

export function NewRun() {
  const role = useRole();
  return (
    <section data-testid="new-run-page">
      <header className="page-head">
        <h2>New paper or live run</h2>
        <span className="dim small">backtests are launched from the Backtests page</span>
      </header>
      {role === null ? (
        <div className="dim">loading…</div>
      ) : canTrade(role) ? (
        <RunFormPanel />
      ) : (
        <div className="panel dim" data-testid="new-run-readonly">
          This token is a {role}: it can watch runs, not start them. Ask for a trader token (heron token create --role trader).
        </div>
      )}
    </section>
  );
}

function RunFormPanel() {
  const [strategies, setStrategies] = useState<StrategyInfo[]>([]);
  const [form, setForm] = useState<RunForm>(EMPTY);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);

  useEffect(() => {
    api
      .strategies()
      .then((s) => {
        const list = itemsOf(s);
        setStrategies(list);
        setForm((f) => (f.strategy || !list[0] ? f : withStrategy(f, list[0])));
      })
      .catch((e) => setError(message(e)));
  }, []);

  const strategy = strategies.find((s) => s.name === form.strategy);
  const specs = useMemo(() => paramsOf(strategy), [strategy]);
  const config = runToml(form, specs);
  const symbols = symbolList(form.symbols);
  const setOption = (key: string, value: string) => setForm((f) => ({ ...f, options: { ...f.options, [key]: value } }));

  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const run = await api.createRun({ kind: form.kind, config, name: name.trim() || undefined, start: true });
      navigate(runPath(run.run_id));
    } catch (e) {
      setError(message(e));
      setConfirming(false);
      setBusy(false);
    }
  };

  const options = RUN_OPTIONS.filter((o) => o.kinds.includes(form.kind));
  return (
    <div className="cols wide-right">
      <form
        className="panel form"
        data-testid="run-form"
        data-kind={form.kind}
        onSubmit={(e) => {
          e.preventDefault();
          if (form.kind === "live") setConfirming(true);
          else void start();
        }}
      >
        <h3>run</h3>
        <div className="field">
          <span>kind</span>
          <div className="segmented" role="radiogroup" data-testid="run-kind">
            {(["paper", "live"] as TradingKind[]).map((k) => (
              <label
                key={k}
                className={form.kind === k ? "on " + k : k}
                title={k === "paper" ? "simulated fills on live market data" : "real orders on the venue"}
                data-testid={"run-kind-" + k}
                data-checked={form.kind === k}
              >
                <input type="radio" name="kind" value={k} checked={form.kind === k} onChange={() => setForm((f) => ({ ...f, kind: k }))} />
                {k}
              </label>
            ))}
          </div>
        </div>
        <StrategyFields
          strategies={strategies}
          strategy={strategy}
          specs={specs}
          values={form.params}
          onStrategy={(s) => setForm((f) => withStrategy(f, s))}
          onParam={(n, v) => setForm((f) => ({ ...f, params: { ...f.params, [n]: v } }))}
        />
        <label className="field">
          <span>venue</span>
          <input list="venues" value={form.venue} onChange={(e) => setForm((f) => ({ ...f, venue: e.target.value }))} data-testid="venue-input" />
          <datalist id="venues">{VENUES.map((v) => <option key={v} value={v} />)}</datalist>
        </label>
        <label className="field">
          <span>symbols</span>
          <input value={form.symbols} placeholder="BTC/USDT:USDT (several: comma-separated)" onChange={(e) => setForm((f) => ({ ...f, symbols: e.target.value }))} data-testid="symbols-input" />
        </label>
        <p className="dim small doc">
          {form.kind === "paper" ? "simulated fills on the venue's live market data" : "real orders on the venue's account"}
        </p>
        {form.kind === "live" && (
          <label className="check">
            <input type="checkbox" checked={form.testnet} onChange={(e) => setForm((f) => ({ ...f, testnet: e.target.checked }))} data-testid="testnet-input" />
            the venue's testnet / demo account
          </label>
        )}
        {options.filter((o) => !o.more).map((o) => <OptionField key={o.key} option={o} value={form.options[o.key] ?? ""} onChange={setOption} />)}
        <details className="more" data-testid="more-options">
          <summary className="dim">more options</summary>
          {options.filter((o) => o.more).map((o) => <OptionField key={o.key} option={o} value={form.options[o.key] ?? ""} onChange={setOption} />)}
        </details>
        <label className="field">
          <span>name</span>
          <input value={name} placeholder="optional" onChange={(e) => setName(e.target.value)} data-testid="run-name-input" />
        </label>
        {error && <div className="error" data-testid="run-form-error">{error}</div>}
        <div className="actions">
          <button type="submit" className={form.kind === "live" ? "danger" : "primary"} disabled={busy || !form.strategy || !form.venue.trim() || !symbols.length} data-testid="run-submit">
            {busy ? "Starting…" : form.kind === "live" ? "Start live run…" : "Start paper run"}
          </button>
        </div>
      </form>
      <div className="panel">
        <h3>config <span className="dim small">sent to POST /api/runs as {form.kind}</span></h3>
        <pre data-testid="run-config-preview">{config}</pre>
        <p className="dim small">
          Paths (risk, key file) are relative to the server's root folder. API keys never go in a run config: a live run
          reads them from the environment or its key file.
        </p>
      </div>
      {confirming && (
        <LiveConfirm
          title={name.trim() || `${form.strategy} on ${symbols.join(",")}`}
          venue={form.venue.trim()}
          symbols={symbols}
          testnet={form.testnet}
          busy={busy}
          error={error}
          onCancel={() => setConfirming(false)}
          onConfirm={() => void start()}
        />
      )}
    </div>
  );
}

function OptionField({ option, value, onChange }: { option: RunOption; value: string; onChange: (key: string, value: string) => void }) {
  return (
    <label className="field" title={option.hint}>
      <span>{option.label}</span>
      <input
        value={value}
        inputMode={option.type === "text" ? undefined : "decimal"}
        placeholder={option.type === "text" ? "" : "—"}
        onChange={(e) => onChange(option.key, e.target.value)}
        data-testid={"option-" + option.key}
      />
      <small className="dim">{option.hint}</small>
    </label>
  );
}

function withStrategy(f: RunForm, s: StrategyInfo): RunForm {
  return { ...f, strategy: s.name, params: defaultParams(s) };
}

function message(e: unknown): string {
  return e instanceof ApiError ? e.message : String(e);
}
