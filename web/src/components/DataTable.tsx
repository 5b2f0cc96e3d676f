// A dense table over API rows. Columns are given, or taken from the rows' own keys (the
// API's field names), so a new field shows up without a dashboard change. Cells show
// decimal strings exactly as the server sent them.

import type { ReactNode } from "react";
import { fmtCell, signClass } from "../format";
import type { Row } from "../types";

export interface Column {
  key: string;
  label?: string;
  render?: (row: Row) => ReactNode;
}

const NUMERIC = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
const SIGNED = /(pnl|return|funding|realized|unrealized|drawdown)/i;

interface Props {
  rows: Row[];
  columns?: Column[];
  testid: string;
  empty?: string;
  rowKey?: (row: Row, i: number) => string;
  limit?: number;
  /** The columns worth a glance, in order; others are left out. All, if none is present. */
  prefer?: string[];
}

export function DataTable({ rows, columns, testid, empty = "nothing yet", rowKey, limit = 500, prefer }: Props) {
  const cols = columns ?? columnsOf(rows, prefer);
  const shown = rows.length > limit ? rows.slice(0, limit) : rows;
  return (
    <div className="table-wrap">
      <table className="grid" data-testid={testid} data-rows={rows.length}>
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c.key}>{c.label ?? c.key.replace(/_/g, " ")}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.length === 0 ? (
            <tr className="empty">
              <td colSpan={Math.max(cols.length, 1)}>{empty}</td>
            </tr>
          ) : (
            shown.map((row, i) => (
              <tr key={rowKey ? rowKey(row, i) : i} data-testid={testid + "-row"}>
                {cols.map((c) => cell(c, row))}
              </tr>
            ))
          )}
        </tbody>
      </table>
      {rows.length > limit && <div className="dim small">showing {limit} of {rows.length}</div>}
    </div>
  );
}

function cell(c: Column, row: Row): ReactNode {
  if (c.render) return <td key={c.key}>{c.render(row)}</td>;
  const v = row[c.key];
  const numeric = typeof v === "number" || (typeof v === "string" && NUMERIC.test(v));
  const tone = SIGNED.test(c.key) ? signClass(v) : "";
  const side = c.key === "side" && typeof v === "string" ? v.toLowerCase() : "";
  const cls = [numeric ? "num" : "", tone, side === "buy" ? "pos" : side === "sell" ? "neg" : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <td key={c.key} className={cls || undefined} data-col={c.key}>
      {fmtCell(c.key, v)}
    </td>
  );
}

/** The columns a table shows for these rows (see `prefer`), for callers adding their own. */
export function columnsOf(rows: Row[], prefer?: string[]): Column[] {
  const keys: string[] = [];
  for (const row of rows.slice(0, 50)) {
    for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  }
  const chosen = prefer?.filter((k) => keys.includes(k)) ?? [];
  const shown = chosen.length ? chosen : keys.length || !prefer ? keys : prefer;
  return shown.map((key) => ({ key }));
}
