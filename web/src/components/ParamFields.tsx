// A strategy's parameters as form fields: a select for a parameter with choices, a text
// input otherwise (values stay text, the server checks them), its range and doc beneath.
// Shared by the backtest launch form and the paper/live run form.

import { defaultText, rangeText } from "../pages/launchConfig";
import type { ParamSpec, StrategyInfo } from "../types";

interface Props {
  strategies: StrategyInfo[];
  strategy: StrategyInfo | undefined;
  specs: ParamSpec[];
  values: Record<string, string>;
  onStrategy: (s: StrategyInfo) => void;
  onParam: (name: string, value: string) => void;
}

export function StrategyFields({ strategies, strategy, specs, values, onStrategy, onParam }: Props) {
  return (
    <>
      <label className="field">
        <span>strategy</span>
        <select
          value={strategy?.name ?? ""}
          onChange={(e) => {
            const s = strategies.find((x) => x.name === e.target.value);
            if (s) onStrategy(s);
          }}
          data-testid="strategy-select"
        >
          {strategies.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
              {s.source && s.source !== "builtin" ? ` (${s.source})` : ""}
            </option>
          ))}
        </select>
      </label>
      {strategy?.doc && <p className="dim small doc">{strategy.doc.split("\n")[0]}</p>}
      {specs.map((p) => (
        <label className="field" key={p.name} title={p.doc}>
          <span>{p.name}</span>
          {choicesOf(p).length ? (
            <select value={values[p.name] ?? ""} onChange={(e) => onParam(p.name, e.target.value)} data-testid={"param-" + p.name}>
              {choicesOf(p).map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          ) : (
            <input
              value={values[p.name] ?? ""}
              placeholder={defaultText(p)}
              onChange={(e) => onParam(p.name, e.target.value)}
              data-testid={"param-" + p.name}
            />
          )}
          <small className="dim">{[rangeText(p), p.doc].filter(Boolean).join(" · ")}</small>
        </label>
      ))}
    </>
  );
}

/** The values a parameter may take, when they are few: its choices, or true / false. */
function choicesOf(p: ParamSpec): string[] {
  if (p.choices && p.choices.length) return p.choices.map(String);
  return /^bool(ean)?$/i.test(p.type ?? "") ? ["true", "false"] : [];
}
