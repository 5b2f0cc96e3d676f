// One run: what it holds and what it did, live. Charts on top, tables below, the journal
// as it is written at the bottom; stop and kill in the header. A running paper or live
// run also has an order ticket and a Cancel button per open order (not for viewers).

import { useMemo, useState } from "react";
import { api, ApiError } from "../api";
import { RunStatusBadge, TradingStateBadge } from "../components/Badge";
import { columnsOf, DataTable, type Column } from "../components/DataTable";
import { KillDialog, killable } from "../components/KillDialog";
import { LiveConfirm } from "../components/LiveConfirm";
import { cancelOrder, OrderTicket, ResultLine, type TicketResult } from "../components/OrderTicket";
import { StreamDot } from "../components/StreamDot";
import { TimeChart } from "../charts/TimeChart";
import { equitySeries, isOpenOrder, priceSeries, symbolsIn } from "../charts/priceSeries";
import { fmtClock, fmtTime, pickStr, signClass } from "../format";
import { canTrade, useRole } from "../role";
import { Feeds } from "./Overview";
import { useRunData } from "./useRunData";
import type { JournalEvent, Row, RunStatusDoc } from "../types";

export function RunDetail({ runId }: { runId: string }) {
  const d = useRunData(runId);
  const role = useRole();
  const [killing, setKilling] = useState(false);
  const [startingLive, setStartingLive] = useState(false);
  const [cancelResult, setCancelResult] = useState<TicketResult | null>(null);
  const [canceling, setCanceling] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [symbol, setSymbol] = useState("");
  const symbols = useMemo(() => symbolsIn(d.fills, d.positions, d.orders), [d.fills, d.positions, d.orders]);
  const chosen = symbol || symbols[0] || "";
  const price = useMemo(() => priceSeries(d.fills, d.orders, d.marks, chosen), [d.fills, d.orders, d.marks, chosen]);
  const eq = useMemo(() => equitySeries(d.equity), [d.equity]);
  const openOrders = useMemo(() => d.orders.filter(isOpenOrder), [d.orders]);
  const tradable = useMemo(() => ticketSymbols(d.status, symbols), [d.status, symbols]);

  if (d.error && !d.run) return <div className="error" data-testid="run-error">{d.error}</div>;
  if (!d.run) return <div className="dim">loading {runId}…</div>;
  const run = d.run;
  const summary = run.summary ?? {};
  const tradingState = d.status?.trading_state ?? summary.trading_state;
  const trading = run.kind !== "backtest" && run.status === "running" && canTrade(role);
  const cancel = async (clientOrderId: string) => {
    setCanceling(clientOrderId);
    setCancelResult(await cancelOrder(run.run_id, clientOrderId));
    setCanceling(null);
  };
  const openColumns: Column[] | undefined = trading
    ? [
        {
          key: "_cancel",
          label: "",
          render: (r) => {
            const id = pickStr(r, "client_order_id");
            return (
              <button className="small" onClick={() => void cancel(id)} disabled={!id || canceling === id} data-testid="cancel-order" data-order-id={id}>
                {canceling === id ? "Canceling…" : "Cancel"}
              </button>
            );
          },
        },
        ...columnsOf(openOrders, ORDER_COLS),
      ]
    : undefined;

  const act = async (what: () => Promise<unknown>) => {
    setActionError(null);
    try {
      const rec = await what();
      if (rec && typeof rec === "object" && "run_id" in rec) d.setRun(rec as typeof run);
    } catch (e) {
      setActionError(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <section data-testid="run-detail" data-run-id={run.run_id}>
      <header className="page-head">
        <h2 data-testid="run-title">
          {run.name || run.run_id} <span className="dim small">{run.run_id} · {run.kind}</span>
        </h2>
        <RunStatusBadge status={run.status} />
        <TradingStateBadge state={tradingState} />
        <StreamDot state={d.stream} />
        <span className="spacer" />
        {run.kind === "backtest" && run.status === "finished" && (
          <a href={api.reportUrl(run.run_id)} target="_blank" rel="noreferrer" data-testid="report-link">
            report
          </a>
        )}
        {run.status === "created" && (
          <button
            onClick={() => (run.kind === "live" ? setStartingLive(true) : act(() => api.startRun(run.run_id)))}
            data-testid="start-button"
          >
            Start
          </button>
        )}
        {run.kind !== "backtest" && run.status === "running" && (tradingState === "HALTED" || tradingState === "REDUCING") && (
          <button onClick={() => act(() => api.resumeRun(run.run_id))} data-testid="resume-button">Resume</button>
        )}
        <button onClick={() => act(() => api.stopRun(run.run_id))} disabled={run.status !== "running"} data-testid="stop-button">
          Stop
        </button>
        <button className="danger" onClick={() => setKilling(true)} disabled={!killable(run)} data-testid="kill-button">
          Kill
        </button>
      </header>
      {actionError && <div className="error" data-testid="action-error">{actionError}</div>}
      {run.error && <div className="error" data-testid="run-error">{run.error}</div>}

      <div className="stats">
        <Stat label="equity" value={d.status?.equity ?? summary.equity} testid="stat-equity" />
        <Stat label="pnl" value={summary.pnl} testid="stat-pnl" signed />
        <Stat label="balance" value={d.status?.balance} testid="stat-balance" />
        <Stat label="exposure" value={summary.exposure} testid="stat-exposure" />
        <Stat label="fills" value={String(d.totals.fills)} testid="stat-fills" />
        <Stat label="open orders" value={String(openOrders.length)} testid="stat-open-orders" />
        <Stat label="started" value={fmtTime(run.started_at).slice(0, 19)} testid="stat-started" />
        {d.status?.feeds && (
          <div className="stat">
            <div className="label">feeds</div>
            <Feeds feeds={d.status.feeds} />
          </div>
        )}
      </div>

      <div className="panel">
        <div className="panel-head">
          <h3>price</h3>
          {symbols.length > 1 && (
            <select value={chosen} onChange={(e) => setSymbol(e.target.value)} data-testid="symbol-select">
              {symbols.map((s) => <option key={s}>{s}</option>)}
            </select>
          )}
          <span className="dim small">{chosen}</span>
        </div>
        <TimeChart series={price} height={300} testid="price-chart" empty="no fills or marks yet" />
      </div>
      <div className="cols">
        <div className="panel">
          <h3>equity</h3>
          <TimeChart series={eq.equity} height={200} testid="equity-chart" />
        </div>
        <div className="panel">
          <h3>drawdown %</h3>
          <TimeChart series={eq.drawdown} height={200} testid="drawdown-chart" />
        </div>
      </div>
      {trading && <OrderTicket runId={run.run_id} symbols={tradable} />}
      <div className="cols">
        <div className="panel">
          <h3>positions</h3>
          <DataTable rows={d.positions} testid="positions-table" empty="flat" prefer={POSITION_COLS} />
          {d.balances.length > 0 && (
            <>
              <h3>balances</h3>
              <DataTable rows={d.balances} testid="balances-table" />
            </>
          )}
        </div>
        <div className="panel">
          <h3>open orders</h3>
          {cancelResult && <ResultLine result={cancelResult} testid="cancel-result" />}
          <DataTable rows={openOrders} columns={openColumns} testid="open-orders-table" empty="no open orders" prefer={ORDER_COLS} />
        </div>
      </div>
      <div className="cols">
        <div className="panel">
          <h3>orders <span className="dim small">{countOf(d.orders.length, d.totals.orders)}</span></h3>
          <DataTable rows={newestFirst(d.orders)} testid="orders-table" prefer={ORDER_COLS} />
        </div>
        <div className="panel">
          <h3>fills <span className="dim small">{countOf(d.fills.length, d.totals.fills)}</span></h3>
          <DataTable rows={newestFirst(d.fills)} testid="fills-table" prefer={FILL_COLS} />
        </div>
      </div>
      <div className="panel">
        <h3>round trips <span className="dim small">{countOf(d.roundTrips.length, d.totals.roundTrips)}</span></h3>
        <DataTable rows={newestFirst(d.roundTrips)} testid="round-trips-table" empty="no closed trades yet" prefer={TRIP_COLS} />
      </div>
      <div className="panel">
        <h3>event log <span className="dim small">newest first</span></h3>
        <EventLog events={d.events} />
      </div>
      {startingLive && (
        <LiveConfirm
          title={run.name || run.run_id}
          venue={configValue(run.config, "venue")}
          symbols={configSymbols(run.config)}
          testnet={/^\s*testnet\s*=\s*true/m.test(run.config)}
          busy={false}
          onCancel={() => setStartingLive(false)}
          onConfirm={() => {
            setStartingLive(false);
            void act(() => api.startRun(run.run_id));
          }}
        />
      )}
      {killing && (
        <KillDialog
          run={run}
          onClose={() => setKilling(false)}
          onDone={(rec) => {
            setKilling(false);
            d.setRun(rec);
          }}
        />
      )}
    </section>
  );
}

function Stat({ label, value, testid, signed }: { label: string; value: unknown; testid: string; signed?: boolean }) {
  const text = value === null || value === undefined || value === "" ? "—" : String(value);
  return (
    <div className="stat">
      <div className="label">{label}</div>
      <div className={"value num " + (signed ? signClass(value) : "")} data-testid={testid}>{text}</div>
    </div>
  );
}

const ORDER_COLS = ["ts_last", "symbol", "side", "type", "status", "quantity", "filled", "price", "trigger_price",
  "avg_price", "client_order_id", "strategy_id"];
const FILL_COLS = ["ts", "symbol", "side", "quantity", "price", "fee", "liquidity", "client_order_id"];
const POSITION_COLS = ["symbol", "side", "quantity", "avg_entry", "mark", "unrealized_pnl", "realized_pnl", "fees", "funding"];
export const TRIP_COLS = ["instrument", "direction", "entry_ts", "exit_ts", "qty", "entry_price", "exit_price", "fees",
  "funding", "realised_pnl", "net_pnl", "fills", "closed"];

/** Rows in the API's order are oldest first; tables read best newest first. */
function newestFirst(rows: Row[]): Row[] {
  return rows.slice().reverse();
}

/** "1,000 newest of 52,341" once a list is longer than what the page shows. */
function countOf(shown: number, total: number): string {
  return total > shown ? `${shown.toLocaleString()} newest of ${total.toLocaleString()}` : String(Math.max(shown, total));
}

const EVENT_COLUMNS: Column[] = [
  { key: "seq", label: "seq", render: (r) => <span className="num">{String(r.seq)}</span> },
  { key: "ts", label: "time", render: (r) => <span className="dim">{fmtClock(r.ts as number)}</span> },
  { key: "type", label: "type", render: (r) => <span className={"etype " + typeTone(String(r.type))}>{String(r.type)}</span> },
  { key: "record", label: "record", render: (r) => <span className="mono small">{describe(r.record as Row)}</span> },
];

function EventLog({ events }: { events: JournalEvent[] }) {
  return (
    <DataTable
      rows={events as unknown as Row[]}
      columns={EVENT_COLUMNS}
      testid="event-log"
      rowKey={(r) => String(r.run_id) + ":" + String(r.seq)}
      empty="waiting for journal records"
    />
  );
}

function typeTone(type: string): string {
  if (/Fill/.test(type)) return "pos";
  if (/Denied|Rejected|Liquidat/.test(type)) return "neg";
  if (/TradingState/.test(type)) return "warn";
  return "";
}

function describe(record: Row | undefined): string {
  if (!record) return "";
  return Object.entries(record)
    .filter(([k, v]) => k !== "ts_event" && k !== "ts_init" && v !== null && v !== "" && v !== false)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" ");
}

/** What the ticket offers: the symbols the run quotes (status marks), then any it traded. */
function ticketSymbols(status: RunStatusDoc | null, traded: string[]): string[] {
  const out = Object.keys(status?.marks ?? {});
  for (const p of status?.positions ?? []) if (!out.includes(p.symbol)) out.push(p.symbol);
  for (const s of traded) if (!out.includes(s)) out.push(s);
  return out;
}

/** A top-level string key of a run's TOML config, for the live confirmation's text. */
function configValue(config: string, key: string): string {
  const m = new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, "m").exec(config);
  return m?.[1] ?? "?";
}

function configSymbols(config: string): string[] {
  const m = /^\s*symbol\s*=\s*(\[[^\]]*\]|"[^"]*")/m.exec(config);
  if (!m) return [];
  return [...m[1]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]!);
}
