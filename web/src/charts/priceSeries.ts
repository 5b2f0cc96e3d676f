// The run page's price chart: a price line from fills and live marks, fills as arrows at
// their exact price, orders as dots at their limit price, open orders as dashed lines.

import { pick, pickNum, pickStr } from "../format";
import type { EquityPoint, Row } from "../types";
import type { MarkPoint } from "../pages/useRunData";
import { normalise, thin, toSeconds, type Point } from "./series";
import type { Marker, PriceLine, SeriesSpec } from "./TimeChart";

const UP = "#3fb950";
const DOWN = "#f85149";
const MAX_MARKERS = 600;
const CLOCK_SLACK_NS = 15 * 60 * 1e9;
const LABELLED_MARKERS = 40; // more than this and the labels hide the price

export const TIME_KEYS = ["ts", "ts_event", "time", "created_at", "ts_init", "updated_at"];
export const SYMBOL_KEYS = ["symbol", "instrument", "instrument_id"];

export function symbolOf(row: Row): string {
  return pickStr(row, ...SYMBOL_KEYS);
}

function isBuy(row: Row): boolean {
  return pickStr(row, "side").toLowerCase() === "buy";
}

const CLOSED = /^(filled|canceled|cancelled|rejected|denied|expired|closed)$/i;

export function isOpenOrder(row: Row): boolean {
  const status = pickStr(row, "status", "state");
  return status !== "" && !CLOSED.test(status);
}

export function priceSeries(fills: Row[], orders: Row[], marks: MarkPoint[], symbol: string): SeriesSpec[] {
  const mine = (r: Row) => !symbol || symbolOf(r) === symbol || symbolOf(r).startsWith(symbol);
  const f = fills.filter(mine);
  const raw: { ns: number; value: number }[] = [];
  const markers: Marker[] = [];
  for (const row of f) {
    const ns = pickNum(row, ...TIME_KEYS);
    const px = pickNum(row, "price", "last_px", "px");
    if (ns === null || px === null) continue;
    raw.push({ ns, value: px });
    const buy = isBuy(row);
    markers.push({
      time: toSeconds(ns),
      price: px,
      color: buy ? UP : DOWN,
      shape: buy ? "arrowUp" : "arrowDown",
      text: `${buy ? "B" : "S"} ${pickStr(row, "quantity", "qty", "last_qty")}`,
    });
  }
  for (const m of onFillClock(marks, raw)) {
    if (!symbol || m.symbol === symbol || symbol.startsWith(m.symbol)) raw.push({ ns: m.ns, value: m.price });
  }
  const priceLines: PriceLine[] = [];
  for (const row of orders.filter(mine)) {
    const px = pickNum(row, "price", "limit_price");
    const ns = pickNum(row, ...TIME_KEYS);
    if (px === null) continue;
    const buy = isBuy(row);
    if (ns !== null) markers.push({ time: toSeconds(ns), price: px, color: buy ? "#58a6ff" : "#d2a8ff", shape: "circle" });
    if (isOpenOrder(row)) {
      priceLines.push({ price: px, color: buy ? UP : DOWN, title: `${pickStr(row, "side")} ${pickStr(row, "quantity", "qty")}` });
    }
  }
  const data = normalise(raw);
  const times = data.map((p) => p.time as number);
  return [
    {
      id: "price",
      kind: "line",
      color: "#c9d1d9",
      data: thin(data, 5000),
      // a marker sits on a point of the series: move each to the nearest point's time
      markers: labels(snap(markers, times).slice(-MAX_MARKERS)),
      priceLines,
    },
  ];
}

export function equitySeries(points: EquityPoint[]): { equity: SeriesSpec[]; drawdown: SeriesSpec[] } {
  const eq = normalise(points.map((p) => ({ ns: p.ts, value: Number(p.equity) })));
  // drawdown arrives as a fraction below the running peak; drawn as a negative percentage
  const dd: Point[] = normalise(points.map((p) => ({ ns: p.ts, value: -100 * Math.abs(Number(p.drawdown)) })));
  return {
    equity: [{ id: "equity", kind: "area", color: "#58a6ff", data: eq }],
    drawdown: [{ id: "drawdown", kind: "area", color: "#f85149", data: dd }],
  };
}

export function symbolsIn(...lists: Row[][]): string[] {
  const out = new Set<string>();
  for (const list of lists) for (const r of list) {
    const s = pick(r, ...SYMBOL_KEYS);
    if (typeof s === "string" && s) out.add(s);
  }
  return [...out];
}

function snap(markers: Marker[], times: number[]): Marker[] {
  if (!times.length) return [];
  return markers.map((m) => {
    let lo = 0;
    let hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid]! < m.time) lo = mid + 1;
      else hi = mid;
    }
    const after = times[lo]!;
    const before = times[Math.max(0, lo - 1)]!;
    return { ...m, time: Math.abs(after - m.time) <= Math.abs(m.time - before) ? after : before };
  });
}

/** Marks are stamped with the wall clock, fills with the venue's. They agree on a live
 * venue; a replayed recording's fills carry its old times, and marks would then sit far
 * off to the right: keep marks only when they are on the fills' clock (or there are none). */
function onFillClock(marks: MarkPoint[], fills: { ns: number }[]): MarkPoint[] {
  if (!fills.length) return marks;
  const last = Math.max(...fills.map((f) => f.ns));
  return marks.filter((m) => Math.abs(m.ns - last) < CLOCK_SLACK_NS);
}

function labels(markers: Marker[]): Marker[] {
  return markers.length > LABELLED_MARKERS ? markers.map((m) => ({ ...m, text: undefined })) : markers;
}
