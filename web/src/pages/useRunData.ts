// Everything the run page shows, kept current from the run's event stream: new journal
// records are appended to the log as they arrive; the derived tables (orders, fills,
// positions, round trips, equity) are refetched when a record that changes them arrives,
// at most every REFETCH_MS, so a burst of fills costs one round of requests. Orders,
// fills and round trips are the run's newest RECENT (every open order besides), with
// the lists' full lengths: a run left trading for weeks shows what it did last, in one
// request per table.

import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, itemsOf } from "../api";
import { useEventStream, type StreamState } from "../sse";
import type { EquityPoint, JournalEvent, Row, RunRecord, RunStatusDoc } from "../types";

const REFETCH_MS = 400;
const MAX_EVENTS = 1000;
const MAX_MARKS = 5000;
const POLL_MS = 5000;
const RETRY_MS = 2000;

type Table = "orders" | "fills" | "positions" | "roundTrips" | "balances" | "equity" | "run";
const ALL: Table[] = ["orders", "fills", "positions", "roundTrips", "balances", "equity"];

export interface MarkPoint {
  ns: number;
  symbol: string;
  price: number;
}

/** How many orders, fills and round trips the run has in all (its tables show the newest). */
export interface Totals {
  orders: number;
  fills: number;
  roundTrips: number;
}

export interface RunData {
  run: RunRecord | null;
  status: RunStatusDoc | null;
  orders: Row[]; // the newest, and every open one; oldest first
  totals: Totals;
  fills: Row[];
  positions: Row[];
  roundTrips: Row[];
  balances: Row[];
  equity: EquityPoint[];
  events: JournalEvent[]; // newest first
  marks: MarkPoint[];
  stream: StreamState;
  error: string | null;
  setRun: (run: RunRecord) => void;
}

/** Which tables a journal record type can change. */
function touched(type: string): Table[] {
  if (/Fill/.test(type)) return ["fills", "orders", "positions", "roundTrips", "balances", "equity", "run"];
  if (/Funding|Liquidat|AccountState/.test(type)) return ["positions", "balances", "equity", "roundTrips", "run"];
  if (/Order/.test(type)) return ["orders"];
  if (/TradingState/.test(type)) return ["run"]; // the summary's trading state
  return [];
}

export function useRunData(runId: string): RunData {
  const [run, setRun] = useState<RunRecord | null>(null);
  const [status, setStatus] = useState<RunStatusDoc | null>(null);
  const [tables, setTables] = useState<Record<Exclude<Table, "run">, unknown[]>>({
    orders: [], fills: [], positions: [], roundTrips: [], balances: [], equity: [],
  });
  const [totals, setTotals] = useState<Totals>({ orders: 0, fills: 0, roundTrips: 0 });
  const [events, setEvents] = useState<JournalEvent[]>([]);
  const [marks, setMarks] = useState<MarkPoint[]>([]);
  const [error, setError] = useState<string | null>(null);
  const dirty = useRef(new Set<Table>());
  const timer = useRef<number | null>(null);
  const retry = useRef<number | null>(null);

  const fetchTables = useCallback(
    async (which: Table[]) => {
      if (which.includes("run")) {
        api.getRun(runId).then(setRun).catch(() => undefined); // summary: equity, pnl, exposure
      }
      const lists = which.filter((t): t is Exclude<Table, "run"> => t !== "run");
      const got = await Promise.all(lists.map((t) => fetchTable(runId, t).catch(retryable)));
      setTables((cur) => {
        const next = { ...cur };
        lists.forEach((t, i) => {
          if (got[i] !== null) next[t] = got[i]!.rows;
        });
        return next;
      });
      setTotals((cur) => {
        const next = { ...cur };
        lists.forEach((t, i) => {
          const total = got[i]?.total;
          if (total !== undefined && (t === "orders" || t === "fills" || t === "roundTrips")) next[t] = total;
        });
        return next;
      });
      // the server was unreachable (restarting?): try those again, calmly
      const failed = lists.filter((_, i) => got[i] === null);
      if (failed.length) retry.current = window.setTimeout(() => void fetchTables(failed), RETRY_MS);
    },
    [runId],
  );

  const refetchSoon = useCallback(
    (which: Table[]) => {
      which.forEach((t) => dirty.current.add(t));
      if (timer.current !== null || dirty.current.size === 0) return;
      timer.current = window.setTimeout(() => {
        timer.current = null;
        const now = [...dirty.current];
        dirty.current.clear();
        void fetchTables(now);
      }, REFETCH_MS);
    },
    [fetchTables],
  );

  useEffect(() => {
    setRun(null);
    setEvents([]);
    setMarks([]);
    setStatus(null);
    api
      .getRun(runId)
      .then((r) => {
        setRun(r);
        setError(null);
        if (r.kind !== "backtest") api.status(runId).then((s) => s && setStatus(s)).catch(() => undefined);
      })
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)));
    void fetchTables(ALL);
    return () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
      if (retry.current !== null) window.clearTimeout(retry.current);
      timer.current = retry.current = null;
    };
  }, [runId, fetchTables]);

  // The stream carries run changes too; a slow poll covers a stream that is down.
  useEffect(() => {
    const id = window.setInterval(() => {
      api.getRun(runId).then(setRun).catch(() => undefined);
    }, POLL_MS);
    return () => window.clearInterval(id);
  }, [runId]);

  const stream = useEventStream(runId, {
    records: (batch) => {
      setEvents((cur) => [...batch.slice().reverse(), ...cur].slice(0, MAX_EVENTS));
      refetchSoon(batch.flatMap((e) => touched(e.type)));
    },
    status: (doc) => {
      if (doc.run_id && doc.run_id !== runId) return;
      setStatus(doc);
      const ns = doc.updated_at;
      if (ns && doc.marks) {
        const pts = Object.entries(doc.marks).map(([symbol, p]) => ({ ns, symbol, price: Number(p) }));
        setMarks((cur) => [...cur, ...pts].slice(-MAX_MARKS));
      }
    },
    run: (rec) => {
      if (rec.run_id !== runId) return;
      setRun((cur) => ({ ...cur, ...rec, summary: rec.summary ?? cur?.summary }));
      refetchSoon(ALL); // a finished backtest has its final tables now
    },
  });

  // Back after a disconnect: records missed are replayed by the stream, but a refetch
  // that failed meanwhile is not; fetch every table once more.
  const previous = useRef(stream);
  useEffect(() => {
    if (stream === "live" && previous.current === "reconnecting") refetchSoon([...ALL, "run"]);
    previous.current = stream;
  }, [stream, refetchSoon]);

  return {
    run,
    status,
    orders: tables.orders as Row[],
    totals,
    fills: tables.fills as Row[],
    positions: tables.positions as Row[],
    roundTrips: tables.roundTrips as Row[],
    balances: tables.balances as Row[],
    equity: tables.equity as EquityPoint[],
    events,
    marks,
    stream,
    error,
    setRun,
  };
}

interface Fetched {
  rows: unknown[];
  total?: number;
}

async function fetchTable(runId: string, t: Exclude<Table, "run">): Promise<Fetched> {
  switch (t) {
    case "orders": {
      const [recent, open] = await Promise.all([api.recentOrders(runId), api.orders(runId, { status: "open" })]);
      return { rows: withOpen(recent.items, open), total: recent.total };
    }
    case "fills":
      return api.recentFills(runId).then((r) => ({ rows: r.items, total: r.total }));
    case "positions":
      return { rows: itemsOf(await api.positions(runId)) };
    case "roundTrips":
      return api.recentRoundTrips(runId).then((r) => ({ rows: r.items, total: r.total }));
    case "balances":
      return { rows: itemsOf(await api.balances(runId)) };
    case "equity":
      return { rows: itemsOf(await api.equity(runId)) };
  }
}

/** The newest orders and the open ones older than those, oldest first. */
function withOpen(recent: Row[], open: Row[]): Row[] {
  const shown = new Set(recent.map((o) => o.client_order_id));
  const older = open.filter((o) => !shown.has(o.client_order_id));
  return [...older, ...recent];
}

/** A failed fetch: null (try again) when the server could not answer, an empty table when
 * it refused (4xx: nothing to show, and asking again will not change that). */
function retryable(e: unknown): Fetched | null {
  return e instanceof ApiError && e.status >= 400 && e.status < 500 ? { rows: [], total: 0 } : null;
}
