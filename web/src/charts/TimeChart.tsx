// One lightweight-charts chart with line/area series, markers at exact prices (fills,
// orders) and horizontal price lines (open orders). The chart is created once per mount
// and fed new data on each render; it sizes itself to its container.

import { useEffect, useRef } from "react";
import {
  AreaSeries,
  ColorType,
  createChart,
  createSeriesMarkers,
  LineSeries,
  LineStyle,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type SeriesMarker,
  type Time,
} from "lightweight-charts";
import type { Point } from "./series";

export interface Marker {
  time: number; // seconds
  price: number;
  color: string;
  shape: "arrowUp" | "arrowDown" | "circle" | "square";
  text?: string;
}

export interface PriceLine {
  price: number;
  color: string;
  title: string;
}

export interface SeriesSpec {
  id: string;
  kind: "line" | "area";
  color: string;
  data: Point[];
  markers?: Marker[];
  priceLines?: PriceLine[];
}

interface Live {
  api: ISeriesApi<"Line"> | ISeriesApi<"Area">;
  markers: ISeriesMarkersPluginApi<Time> | null;
  lines: IPriceLine[];
}

interface Props {
  series: SeriesSpec[];
  height?: number;
  testid: string;
  empty?: string;
}

export function TimeChart({ series, height = 260, testid, empty = "no data yet" }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const live = useRef(new Map<string, Live>());
  const fitted = useRef(false);

  useEffect(() => {
    if (!box.current) return;
    const c = createChart(box.current, chartOptions(height));
    chart.current = c;
    const owned = live.current;
    return () => {
      owned.clear();
      fitted.current = false;
      c.remove();
      chart.current = null;
    };
  }, [height]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    for (const spec of series) update(c, live.current, spec);
    const points = series.reduce((n, s) => n + s.data.length, 0);
    if (points > 0 && !fitted.current) {
      c.timeScale().fitContent();
      fitted.current = true;
    }
  }, [series]);

  const points = series.reduce((n, s) => n + s.data.length, 0);
  return (
    <div className="chart" data-testid={testid} data-points={points}>
      <div ref={box} style={{ height }} />
      {points === 0 && <div className="chart-empty dim">{empty}</div>}
    </div>
  );
}

function update(c: IChartApi, live: Map<string, Live>, spec: SeriesSpec): void {
  let s = live.get(spec.id);
  if (!s) {
    const api =
      spec.kind === "area"
        ? c.addSeries(AreaSeries, {
            lineColor: spec.color,
            topColor: spec.color + "55",
            bottomColor: spec.color + "05",
            lineWidth: 1,
            priceLineVisible: false,
          })
        : c.addSeries(LineSeries, { color: spec.color, lineWidth: 1, priceLineVisible: false });
    s = { api, markers: null, lines: [] };
    live.set(spec.id, s);
  }
  s.api.setData(spec.data);
  const markers: SeriesMarker<Time>[] = (spec.markers ?? [])
    .slice()
    .sort((a, b) => a.time - b.time)
    .map((m) => ({
      time: m.time as Time,
      position: "atPriceMiddle",
      price: m.price,
      color: m.color,
      shape: m.shape,
      text: m.text,
      size: 1,
    }));
  if (s.markers) s.markers.setMarkers(markers);
  else if (markers.length) s.markers = createSeriesMarkers(s.api, markers);
  for (const line of s.lines) s.api.removePriceLine(line);
  s.lines = (spec.priceLines ?? []).map((p) =>
    s!.api.createPriceLine({
      price: p.price,
      color: p.color,
      lineStyle: LineStyle.Dashed,
      lineWidth: 1,
      axisLabelVisible: true,
      title: p.title,
    }),
  );
}

function chartOptions(height: number) {
  return {
    height,
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: "#0d1117" },
      textColor: "#8b949e",
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 11,
    },
    grid: { vertLines: { color: "#161b22" }, horzLines: { color: "#161b22" } },
    rightPriceScale: { borderColor: "#30363d" },
    timeScale: { borderColor: "#30363d", timeVisible: true, secondsVisible: true },
    crosshair: { mode: 0 },
  };
}
