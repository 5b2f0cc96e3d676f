// Turning API rows into chart points. lightweight-charts wants one point per time, in
// ascending order, with times in seconds; heron's times are nanoseconds and several fills
// can share a second, so points are bucketed to the second (the last one wins).
// Charts may use floats: these numbers are drawn, never shown as text or added up.

import type { UTCTimestamp } from "lightweight-charts";

export interface Point {
  time: UTCTimestamp;
  value: number;
}

export function toSeconds(ns: number): UTCTimestamp {
  return Math.floor(ns / 1e9) as UTCTimestamp;
}

/** Sorted, one point per second (the last value given for that second). */
export function normalise(points: { ns: number; value: number }[]): Point[] {
  const bySecond = new Map<number, number>();
  // a record stamped 0 (before the run's clock started) has no place on a time axis
  const sorted = [...points].filter((p) => p.ns > 0 && Number.isFinite(p.value));
  sorted.sort((a, b) => a.ns - b.ns);
  for (const p of sorted) bySecond.set(toSeconds(p.ns), p.value);
  return [...bySecond.entries()].map(([time, value]) => ({ time: time as UTCTimestamp, value }));
}

/** Keeps at most `max` points, evenly spaced, always including the last. */
export function thin(points: Point[], max: number): Point[] {
  if (points.length <= max) return points;
  const step = points.length / max;
  const out: Point[] = [];
  for (let i = 0; i < max - 1; i++) out.push(points[Math.floor(i * step)]!);
  out.push(points[points.length - 1]!);
  return out;
}
