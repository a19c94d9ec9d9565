/// <reference lib="dom" />
// Charts: uPlot (≈50 kB, canvas, made for many points: 1 h at 5 s for 100 routes is 72,000 points
// it draws in milliseconds) over the engine's matrix results, with units on the y axis, a legend
// with swatches, values on hover (uPlot's cursor) and a text alternative for screen readers.

import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Unit } from "../panels.js";
import { html } from "./html.js";

export interface Series {
  label: string;
  values: Array<number | null>;
}

export interface ChartData {
  /** Seconds since the epoch, one per step. */
  times: number[];
  series: Series[];
}

const SI = ["", "k", "M", "G", "T"];

/** A value in its unit, short: 12.3 req/s, 45 ms, 12 %, 1.2 GB. */
export function fmt(v: number | null | undefined, unit: Unit): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  switch (unit) {
    case "percentunit":
      return `${round(v * 100)} %`;
    case "s":
      if (Math.abs(v) < 1e-3 && v !== 0) return `${round(v * 1e6)} µs`;
      if (Math.abs(v) < 1) return `${round(v * 1000)} ms`;
      return `${round(v)} s`;
    case "bytes": {
      let i = 0;
      let x = v;
      while (Math.abs(x) >= 1024 && i < 4) {
        x /= 1024;
        i++;
      }
      return `${round(x)} ${["B", "KiB", "MiB", "GiB", "TiB"][i]}`;
    }
    case "reqps":
      return `${si(v)} req/s`;
    case "ops":
      return `${si(v)} /s`;
    case "cps":
      return `${si(v)} lines/s`;
    default:
      return si(v);
  }
}

function si(v: number): string {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1000 && i < 4) {
    x /= 1000;
    i++;
  }
  return `${round(x)}${SI[i]}`;
}

function round(v: number): string {
  const a = Math.abs(v);
  return String(a >= 100 ? Math.round(v) : a >= 10 ? Math.round(v * 10) / 10 : Math.round(v * 100) / 100);
}

export const UNIT_LABEL: Record<Unit, string> = {
  reqps: "requests / s",
  s: "duration",
  percentunit: "percent",
  bytes: "bytes",
  short: "count",
  ops: "per second",
  cps: "lines / s",
  none: "value",
};

/** Whether a series has a value with no value beside it (a line cannot show it). */
function sparse(values: Array<number | null>): boolean {
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null) continue;
    if ((values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null) return true;
  }
  return false;
}

const COLOURS = 8;
function colour(i: number): string {
  const v = getComputedStyle(document.documentElement)
    .getPropertyValue(`--s${i % COLOURS}`)
    .trim();
  return v || "#0b57d0";
}
function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function options(width: number, unit: Unit, data: ChartData, title: string): uPlot.Options {
  const axis = {
    stroke: cssVar("--muted", "#555"),
    grid: { stroke: cssVar("--line", "#ddd"), width: 1 },
    ticks: { show: false },
  };
  return {
    width,
    height: 220,
    title: undefined,
    legend: { show: false },
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, min, max) => [Math.min(0, min), max > min ? max * 1.05 : min + 1] },
    },
    axes: [
      { ...axis, label: "time" },
      {
        ...axis,
        label: UNIT_LABEL[unit],
        // As wide as the longest tick label ("0.75 lines/s"), so the axis label never overlaps it.
        size: (_u, values) =>
          Math.max(48, 28 + 7 * Math.max(0, ...(values ?? []).map((v) => String(v).length))),
        values: (_u, splits) => splits.map((v) => fmt(v, unit)),
      },
    ],
    series: [
      {},
      ...data.series.map((s, i) => ({
        label: s.label,
        stroke: colour(i),
        width: 1.5,
        // A point with no neighbour draws no line: sparse series show their points.
        points: { show: sparse(s.values), size: 5, fill: colour(i) },
        value: (_u: uPlot, v: number | null) => fmt(v, unit),
      })),
    ],
    plugins: [tooltip(unit, title)],
  };
}

/** Values on hover: one line per series at the cursor's time. */
function tooltip(unit: Unit, title: string): uPlot.Plugin {
  let tip: HTMLDivElement | undefined;
  return {
    hooks: {
      init: (u) => {
        tip = document.createElement("div");
        tip.className = "tip";
        tip.hidden = true;
        tip.setAttribute("role", "status");
        u.over.appendChild(tip);
        u.over.addEventListener("mouseleave", () => {
          if (tip) tip.hidden = true;
        });
      },
      setCursor: (u) => {
        const idx = u.cursor.idx;
        if (!tip || idx === null || idx === undefined) return;
        const t = u.data[0][idx];
        if (t === undefined) return;
        const lines = [`${title} — ${new Date(t * 1000).toLocaleTimeString()}`];
        for (let i = 1; i < u.series.length; i++) {
          const v = u.data[i]?.[idx];
          if (v !== null && v !== undefined) lines.push(`${u.series[i]?.label}: ${fmt(v, unit)}`);
        }
        tip.textContent = lines.join("\n");
        tip.style.whiteSpace = "pre";
        tip.hidden = false;
        const left = u.cursor.left ?? 0;
        tip.style.left = `${Math.min(left + 12, u.over.clientWidth - 160)}px`;
        tip.style.top = `${(u.cursor.top ?? 0) + 12}px`;
      },
    },
  };
}

/** A uPlot chart that redraws its data in place on each live update. */
export function Chart(props: { data: ChartData; unit: Unit; title: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = useRef("");
  const { data, unit, title } = props;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const aligned = [data.times, ...data.series.map((s) => s.values)] as uPlot.AlignedData;
    const key = `${unit}|${data.series.map((s) => s.label).join("\u0001")}`;
    if (plot.current && shape.current === key) {
      plot.current.setData(aligned);
      return;
    }
    plot.current?.destroy();
    plot.current = new uPlot(options(el.clientWidth || 400, unit, data, title), aligned, el);
    shape.current = key;
  }, [data, unit, title]);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height: 220 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  const last = data.series.map((s) => {
    for (let i = s.values.length - 1; i >= 0; i--) if (s.values[i] !== null) return s.values[i] as number;
    return null;
  });
  return html`<div>
    <div class="chart" ref=${box} role="img" aria-label=${`${title}, ${UNIT_LABEL[unit]}: ${data.series
      .slice(0, 10)
      .map((s, i) => `${s.label} ${fmt(last[i], unit)}`)
      .join("; ")}`}></div>
    <ul class="legend" aria-hidden="true">
      ${data.series
        .slice(0, 24)
        .map(
          (s, i) =>
            html`<li><span class=${`sw sw${i % COLOURS}`}></span>${s.label} ${fmt(last[i], unit)}</li>`,
        )}
      ${data.series.length > 24 ? html`<li>… ${data.series.length - 24} more</li>` : null}
    </ul>
  </div>`;
}
