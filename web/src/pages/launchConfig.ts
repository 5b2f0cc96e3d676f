// The launch forms' model: strategy parameter specs as the API describes them, and the
// run configs built from them: TOML with the keys `heron backtest CONFIG` reads, or the
// options of `heron paper` / `heron live` with `_` for `-` (src/heron/node/run_config.py).
// Values stay text: the server checks them and names the key it refuses.

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
  return [...lines, ...paramsToml(f.params, specs)].join("\n") + "\n";
}

/** The `[params]` table: every parameter with a value (defaults are filled in). */
function paramsToml(values: Record<string, string>, specs: ParamSpec[]): string[] {
  const params = Object.entries(values).filter(([, v]) => v.trim() !== "");
  if (!params.length) return [];
  const lines = ["", "[params]"];
  for (const [k, v] of params) {
    const key = KEY.test(k) ? k : tomlString(k);
    lines.push(`${key} = ${tomlValue(specs.find((s) => s.name === k), v.trim())}`);
  }
  return lines;
}

/** Parameter values to start from when a strategy is picked: its defaults. */
export function defaultParams(s: StrategyInfo): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of paramsOf(s)) params[p.name] = defaultText(p);
  return params;
}

// -- paper and live runs ----------------------------------------------------------------------

export type TradingKind = "paper" | "live";
export const VENUES = ["binanceusdm", "okx", "bybit", "hyperliquid", "mexc", "alpaca"];

/** How a key travels in TOML: as text, or a bare number when it reads as one. */
type OptionType = "text" | "int" | "float";

export interface RunOption {
  key: string;
  kinds: TradingKind[];
  type: OptionType;
  label: string;
  hint: string;
  /** shown under "more options" */
  more?: boolean;
}

/** The keys of a paper / live run config the form offers besides strategy, venue, symbol
 * and testnet (see `heron paper --help`, `heron live --help`). */
export const RUN_OPTIONS: RunOption[] = [
  { key: "endpoint", kinds: ["paper", "live"], type: "text", label: "endpoint",
    hint: "another host for the venue: a testnet, the emulator or a replay server (http://127.0.0.1:PORT)" },
  { key: "bar", kinds: ["paper", "live"], type: "text", label: "bar", hint: "bar length for on_bar strategies (default 1m)" },
  { key: "streams", kinds: ["paper", "live"], type: "text", label: "streams", hint: "trades, or trades,book / trades,quotes" },
  { key: "cash", kinds: ["paper"], type: "text", label: "cash", hint: "starting cash (default 10000)" },
  { key: "fee_bps", kinds: ["paper"], type: "text", label: "fee bps", hint: "fee per fill (default: the venue's)" },
  { key: "slippage_bps", kinds: ["paper"], type: "text", label: "slippage bps", hint: "on taker fills" },
  { key: "key_file", kinds: ["live"], type: "text", label: "key file",
    hint: "API keys file (chmod 600), relative to the server's root; else the environment" },
  { key: "risk", kinds: ["paper", "live"], type: "text", label: "risk file",
    hint: "risk limits TOML (docs/risk.md), relative to the server's root; optional" },
  { key: "warmup", kinds: ["paper", "live"], type: "int", label: "warmup", hint: "closed bars of history fetched at start", more: true },
  { key: "duration", kinds: ["paper", "live"], type: "float", label: "duration s", hint: "stop after this many seconds", more: true },
  { key: "stop_after", kinds: ["paper", "live"], type: "int", label: "stop after", hint: "stop after N market events", more: true },
  { key: "stale", kinds: ["paper", "live"], type: "float", label: "stale s", hint: "seconds without data before reconnecting (30)", more: true },
  { key: "poll", kinds: ["live"], type: "float", label: "poll s", hint: "seconds between REST catch-ups of orders", more: true },
  { key: "reconcile", kinds: ["live"], type: "float", label: "reconcile s", hint: "seconds between reconciliations with the venue", more: true },
];

export interface RunForm {
  kind: TradingKind;
  strategy: string;
  venue: string;
  /** one or more symbols, separated by commas or spaces */
  symbols: string;
  testnet: boolean;
  options: Record<string, string>;
  params: Record<string, string>;
}

export function symbolList(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

const INT = /^-?\d+$/;
const FLOAT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

function optionValue(type: OptionType, text: string): string {
  if (type === "int" && INT.test(text)) return text;
  if (type === "float" && FLOAT.test(text)) return text;
  return tomlString(text); // text, or a number the server will refuse by its key's name
}

/** The TOML config of a paper or live run, as `POST /api/runs` takes it. */
export function runToml(f: RunForm, specs: ParamSpec[]): string {
  const symbols = symbolList(f.symbols);
  const lines = [`strategy = ${tomlString(f.strategy)}`, `venue = ${tomlString(f.venue.trim())}`];
  if (symbols.length) lines.push(`symbol = [${symbols.map(tomlString).join(", ")}]`);
  if (f.kind === "live" && f.testnet) lines.push("testnet = true");
  for (const o of RUN_OPTIONS) {
    const v = (f.options[o.key] ?? "").trim();
    if (o.kinds.includes(f.kind) && v) lines.push(`${o.key} = ${optionValue(o.type, v)}`);
  }
  return [...lines, ...paramsToml(f.params, specs)].join("\n") + "\n";
}
