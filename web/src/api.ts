// Typed client for heron serve's HTTP API. Same origin; a Bearer token when the page was
// opened with ?token= (see auth.ts). Every non-2xx answer becomes an ApiError carrying the
// server's one-line message, so pages can show it as is.

import { token, withToken } from "./auth";
import type {
  ApiErrorBody,
  CommandReply,
  CountedPage,
  CreateRunRequest,
  DataFile,
  EquityPoint,
  Health,
  JournalEvent,
  KillRequest,
  Me,
  Page,
  PlaceOrderRequest,
  Recent,
  Row,
  RunRecord,
  RunStatusDoc,
  StrategyInfo,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return "/api" + path + (qs ? "?" + qs : "");
}

async function request<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

async function toError(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as Partial<ApiErrorBody>;
    if (body.error) {
      return new ApiError(res.status, body.error.code, body.error.message, body.error.details);
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(res.status, "http_" + res.status, `${res.status} ${res.statusText}`);
}

/** Lists are pages ({items, next_cursor}); a few routes may answer a bare array. */
export function itemsOf<T>(x: Page<T> | T[] | null | undefined): T[] {
  if (!x) return [];
  return Array.isArray(x) ? x : (x.items ?? []);
}

const enc = encodeURIComponent;

/** Every item of a paged list, following next_cursor, up to `max` items. */
async function collect<T>(path: string, query: Query = {}, max = 20000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> | T[] = await request<Page<T> | T[]>("GET", path, { ...query, limit: 1000, cursor });
    if (Array.isArray(page)) return page;
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

/** How many of a run's newest orders, fills and round trips the run page shows. */
export const RECENT = 1000;

/** The newest `max` items of a run's list, oldest first, and the list's length: a long
 * run's tables show what happened last, whatever the run's age. */
async function recent<T>(path: string, max = RECENT): Promise<Recent<T>> {
  const page = await request<CountedPage<T>>("GET", path, { newest_first: true, limit: max });
  return { items: page.items.slice().reverse(), total: page.total ?? page.items.length };
}

export const api = {
  health: () => request<Health>("GET", "/health"),
  me: () => request<Me>("GET", "/me"),

  listRuns: (q: { status?: string; kind?: string; limit?: number; cursor?: string } = {}) =>
    request<Page<RunRecord>>("GET", "/runs", q),
  getRun: (id: string) => request<RunRecord>("GET", `/runs/${enc(id)}`),
  createRun: (req: CreateRunRequest) => request<RunRecord>("POST", "/runs", undefined, req),
  startRun: (id: string) => request<RunRecord>("POST", `/runs/${enc(id)}/start`),
  stopRun: (id: string) => request<RunRecord>("POST", `/runs/${enc(id)}/stop`),
  killRun: (id: string, req: KillRequest) =>
    request<RunRecord>("POST", `/runs/${enc(id)}/kill`, undefined, req),
  resumeRun: (id: string, reason?: string) =>
    request<RunRecord>("POST", `/runs/${enc(id)}/resume`, undefined, { reason: reason ?? "resumed from the dashboard" }),

  placeOrder: (id: string, order: PlaceOrderRequest) =>
    request<CommandReply>("POST", `/runs/${enc(id)}/orders`, undefined, order),
  cancelOrder: (id: string, clientOrderId: string) =>
    request<CommandReply>("DELETE", `/runs/${enc(id)}/orders/${enc(clientOrderId)}`),
  orders: (id: string, q: { status?: string; symbol?: string } = {}) =>
    collect<Row>(`/runs/${enc(id)}/orders`, q),
  recentOrders: (id: string) => recent<Row>(`/runs/${enc(id)}/orders`),
  recentFills: (id: string) => recent<Row>(`/runs/${enc(id)}/fills`),
  recentRoundTrips: (id: string) => recent<Row>(`/runs/${enc(id)}/round-trips`),
  positions: (id: string) => request<Page<Row> | Row[]>("GET", `/runs/${enc(id)}/positions`),
  balances: (id: string) => request<Page<Row> | Row[]>("GET", `/runs/${enc(id)}/balances`),
  roundTrips: (id: string) => collect<Row>(`/runs/${enc(id)}/round-trips`),
  equity: (id: string, points = 2000) =>
    request<Page<EquityPoint> | EquityPoint[]>("GET", `/runs/${enc(id)}/equity`, { points }),
  events: (id: string, q: { after?: number; type?: string; limit?: number } = {}) =>
    request<Page<JournalEvent>>("GET", `/runs/${enc(id)}/events`, q),
  status: (id: string) => request<RunStatusDoc | null>("GET", `/runs/${enc(id)}/status`),
  result: (id: string) => request<Row>("GET", `/runs/${enc(id)}/result`),
  reportUrl: (id: string) => withToken(`/api/runs/${enc(id)}/report`),

  strategies: () => request<Page<StrategyInfo> | StrategyInfo[]>("GET", "/strategies"),
  catalog: () => request<Page<Row> | Row[]>("GET", "/catalog"),
  dataFiles: () => request<Page<DataFile> | DataFile[]>("GET", "/data-files"),
};

/** Stream URLs (EventSource cannot send headers: the token rides in the query). */
export function streamUrl(runId: string | null, lastEventId?: string | null): string {
  const base = runId === null ? "/api/stream" : `/api/runs/${enc(runId)}/stream`;
  const q = lastEventId ? `?last_event_id=${enc(lastEventId)}` : "";
  return withToken(base + q);
}
