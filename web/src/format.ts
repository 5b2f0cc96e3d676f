// Display helpers. Decimal strings from the API are shown exactly as written: no Number()
// round trip for money, prices or quantities in tables. Floats (metrics, ratios) and
// nanosecond times are formatted here.

export function fmtTime(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return "";
  const d = new Date(ns / 1e6);
  return d.toISOString().replace("T", " ").replace("Z", "").slice(0, 23);
}

export function fmtClock(ns: number | null | undefined): string {
  return fmtTime(ns).slice(11, 23);
}

export function fmtDuration(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || ns < 0) return "";
  let s = Math.floor(ns / 1e9);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** "pos" / "neg" / "" from the sign of a decimal string (or number), for colouring. */
export function signClass(v: unknown): string {
  if (typeof v === "number") return v > 0 ? "pos" : v < 0 ? "neg" : "";
  if (typeof v !== "string" || !v) return "";
  if (v.startsWith("-")) return /[1-9]/.test(v) ? "neg" : "";
  return /[1-9]/.test(v) ? "pos" : "";
}

/** A float metric, rounded for reading; integers and strings pass through unchanged. */
export function fmtMetric(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(4);
  }
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "yes" : "no";
  return JSON.stringify(v);
}

const TIME_KEYS = /(^ts$|^ts_|_ts$|_at$|^time$)/;

/** How a table cell shows a field: times as UTC, decimal strings verbatim. */
export function fmtCell(key: string, v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && TIME_KEYS.test(key) && v > 1e15) return fmtTime(v);
  if (typeof v === "number" && /_ns$/.test(key)) return fmtDuration(v);
  if (typeof v === "object") return JSON.stringify(v);
  return fmtMetric(v);
}

/** First present field among `keys` (API field names vary between routes). */
export function pick(row: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) {
    const v = row[k];
    if (v !== undefined && v !== null && v !== "") return v;
  }
  return undefined;
}

export function pickStr(row: Record<string, unknown>, ...keys: string[]): string {
  const v = pick(row, ...keys);
  return v === undefined ? "" : String(v);
}

export function pickNum(row: Record<string, unknown>, ...keys: string[]): number | null {
  const v = pick(row, ...keys);
  if (v === undefined) return null;
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}
