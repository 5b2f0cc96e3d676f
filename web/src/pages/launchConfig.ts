// The backtest launch form's model: strategy parameter specs as the API describes them,
// and the run config (TOML, the same keys `heron backtest CONFIG` reads) built from it.

import type { ParamSpec, StrategyInfo } from "../types";

export interface BacktestForm {
  strategy: string;
  data: string;
  symbol: string;
  cash: string;
  fee_bps: string;
  slippage_bps: string;
  params: Record<string, string>;
}

/** A strategy's params as a list, whether the API sent a list or a name -> spec map. */
export function paramsOf(s: StrategyInfo | undefined): ParamSpec[] {
  if (!s) return [];
  if (Array.isArray(s.params)) return s.params;
  return Object.entries(s.params ?? {}).map(([name, spec]) => ({ name, ...spec }));
}

export function defaultText(p: ParamSpec): string {
  const d = p.default;
  if (d === null || d === undefined) return "";
  return typeof d === "object" ? JSON.stringify(d) : String(d);
}

/** "1 ≤ x ≤ 10", "one of a, b": what the form shows next to a parameter. */
export function rangeText(p: ParamSpec): string {
  if (p.choices && p.choices.length) return "one of " + p.choices.map(String).join(", ");
  const parts: string[] = [];
  const r = p.bounds ?? p.range;
  if (r && typeof r === "object" && !Array.isArray(r)) {
    const o = r as Record<string, unknown>;
    for (const k of ["ge", "gt", "le", "lt", "min", "max"]) if (o[k] !== undefined && o[k] !== null) parts.push(bound(k, o[k]));
  } else if (Array.isArray(r)) {
    return `${r[0] ?? ""} … ${r[1] ?? ""}`;
  } else if (typeof r === "string") {
    return r;
  }
  for (const k of ["ge", "gt", "le", "lt"] as const) if (p[k] !== undefined && p[k] !== null) parts.push(bound(k, p[k]));
  return parts.join(", ");
}

function bound(k: string, v: unknown): string {
  const op: Record<string, string> = { ge: "≥", gt: ">", le: "≤", lt: "<", min: "≥", max: "≤" };
  return `${op[k] ?? k} ${String(v)}`;
}

function tomlString(s: string): string {
  return JSON.stringify(s); // JSON's escapes are valid in a TOML basic string
}

function tomlValue(p: ParamSpec | undefined, text: string): string {
  const type = (p?.type ?? "").toLowerCase();
  if (/^(int|integer)$/.test(type) && /^-?\d+$/.test(text)) return text;
  if (/^(bool|boolean)$/.test(type) && /^(true|false)$/i.test(text)) return text.toLowerCase();
  return tomlString(text); // Decimal, str, float: as text, as `--param k=v` passes them
}

const KEY = /^[A-Za-z0-9_-]+$/;

export function backtestToml(f: BacktestForm, specs: ParamSpec[]): string {
  const lines = [`strategy = ${tomlString(f.strategy)}`, `data = ${tomlString(f.data)}`];
  if (f.symbol.trim()) lines.push(`symbol = ${tomlString(f.symbol.trim())}`);
  if (f.cash.trim()) lines.push(`cash = ${tomlString(f.cash.trim())}`);
  if (f.fee_bps.trim()) lines.push(`fee_bps = ${tomlString(f.fee_bps.trim())}`);
  if (f.slippage_bps.trim()) lines.push(`slippage_bps = ${tomlString(f.slippage_bps.trim())}`);
  const params = Object.entries(f.params).filter(([, v]) => v.trim() !== "");
  if (params.length) {
    lines.push("", "[params]");
    for (const [k, v] of params) {
      const key = KEY.test(k) ? k : tomlString(k);
      lines.push(`${key} = ${tomlValue(specs.find((s) => s.name === k), v.trim())}`);
    }
  }
  return lines.join("\n") + "\n";
}
