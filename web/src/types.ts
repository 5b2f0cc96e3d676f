// Shapes of heron serve's JSON (docs: the issue-7 API contract). Money and quantities are
// decimal strings and stay strings here: the dashboard shows them as the server wrote them.
// Times are integer nanoseconds since the epoch (JSON numbers; exact to ~0.1 µs in JS, more
// than enough to place a point on a chart).

export type RunKind = "backtest" | "paper" | "live";
export type RunStatus =
  | "created"
  | "running"
  | "stopping"
  | "finished"
  | "failed"
  | "stopped"
  | "killed";

export interface FeedHealth {
  venue?: string;
  symbol?: string;
  stream?: string;
  state?: string;
  lag_ms?: number | null;
  reconnects?: number;
}

export interface RunSummary {
  equity?: string | null;
  pnl?: string | null;
  trading_state?: string | null;
  exposure?: string | null;
  feeds?: FeedHealth[] | null;
}

export interface RunRecord {
  run_id: string;
  kind: RunKind | string;
  name: string;
  status: RunStatus | string;
  config: string;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  pid: number | null;
  exit_code: number | null;
  error: string | null;
  directory?: string;
  summary?: RunSummary | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** A page of one run's list that also says the list's length (null: not known). */
export interface CountedPage<T> extends Page<T> {
  total: number | null;
}

/** The newest rows of a long list, oldest first, and how many the list holds. */
export interface Recent<T> {
  items: T[];
  total: number;
}

export interface Health {
  status: string;
  version: string;
  runs: Record<string, number>;
}

export interface Me {
  role: "viewer" | "trader" | "admin" | string;
  token_id: string | null;
}

export interface Position {
  symbol: string;
  quantity: string;
  entry_price?: string | null;
  unrealized_pnl?: string | null;
}

/** STATE/status.json of a paper or live run, as `/status` and SSE `status` events carry it. */
export interface RunStatusDoc {
  run_id?: string;
  updated_at?: number;
  trading_state?: string;
  equity?: string;
  balance?: string;
  currency?: string;
  events?: number;
  journal_seq?: number;
  marks?: Record<string, string>;
  positions?: Position[];
  feeds?: FeedHealth[];
}

export interface EquityPoint {
  ts: number;
  equity: string | number;
  drawdown: string | number;
}

/** A journal record as the API and the SSE streams deliver it. */
export interface JournalEvent {
  run_id: string;
  seq: number;
  type: string;
  ts: number;
  record: Record<string, unknown>;
}

export interface ParamSpec {
  name: string;
  type?: string;
  default?: unknown;
  doc?: string;
  choices?: unknown[] | null;
  ge?: unknown;
  gt?: unknown;
  le?: unknown;
  lt?: unknown;
  range?: unknown;
  bounds?: Record<string, unknown> | null;
}

export interface StrategyInfo {
  name: string;
  doc?: string;
  /** builtin, entry-point, or path (a file in the server's HERON_STRATEGY_PATH) */
  source?: string;
  params: ParamSpec[] | Record<string, Omit<ParamSpec, "name">>;
}

export interface DataFile {
  path: string;
  [key: string]: unknown;
}

export type Row = Record<string, unknown>;

export interface KillRequest {
  flatten: boolean;
  reason?: string;
}

export interface CreateRunRequest {
  kind: RunKind;
  config: string;
  name?: string;
  start?: boolean;
}

/** The error body of every 4xx/5xx answer. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export type OrderType = "market" | "limit" | "stop" | "stop-limit";

/** A manual order (`POST /api/runs/{id}/orders`): prices and quantities as decimal text. */
export interface PlaceOrderRequest {
  symbol: string;
  side: "buy" | "sell";
  type: OrderType;
  quantity: string;
  price?: string;
  trigger_price?: string;
  time_in_force: "GTC" | "IOC" | "FOK";
  post_only: boolean;
  reduce_only: boolean;
}

/** The run's answer to a manual command; `ok` null while it has not answered (202). */
export interface CommandReply {
  command_id: string | null;
  ok: boolean | null;
  pending: boolean;
  client_order_id: string | null;
  rule: string | null;
  message: string;
}
