// A small SVG time-series chart (lines or bars) with axes and a hover read-out. Hand-written: the UI
// needs a few series over a continuous time axis, which does not justify a charting library.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { fmtAxisTime, fmtNumber, fmtTime } from "../format";

export interface Series { name: string; color: string; values: (number | null)[] }

export interface ChartProps {
  title: string;
  summary?: string;
  times: number[]; // bucket start times (µs), one per value
  stepUs: number;
  series: Series[];
  kind?: "line" | "bar";
  fmt?: (v: number) => string;
  height?: number;
  testid?: string;
  attrs?: Record<string, string | number>;
}

const PAD = { left: 52, right: 12, top: 10, bottom: 24 };

/** About `count` round tick values from 0 to at least max. */
function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(v);
  return out;
}

/** The element's width in CSS pixels, kept current as the layout changes. */
export function useWidth<T extends HTMLElement>(initial = 600): [{ current: T | null }, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(200, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

export function Chart(p: ChartProps) {
  const [box, width] = useWidth<HTMLDivElement>();
  const [hover, setHover] = useState<number | null>(null);
  const height = p.height ?? 160;
  const fmt = p.fmt ?? fmtNumber;
  const n = p.times.length;
  const t0 = n ? p.times[0] : 0;
  const t1 = n ? p.times[n - 1] + p.stepUs : 1;
  const max = useMemo(() => Math.max(0, ...p.series.flatMap((s) => s.values.filter((v): v is number => v !== null && isFinite(v)))), [p.series]);
  const ticks = niceTicks(max);
  const top = ticks[ticks.length - 1] || 1;
  const iw = width - PAD.left - PAD.right;
  const ih = height - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * iw;
  const y = (v: number) => PAD.top + ih - (v / top) * ih;
  const bw = Math.max(1, (p.stepUs / (t1 - t0 || 1)) * iw);
  const xTicks = n ? Array.from({ length: 5 }, (_, i) => t0 + ((t1 - t0) * i) / 4) : [];
  const empty = max === 0 && p.series.every((s) => s.values.every((v) => v === null || v === 0));

  const onMove = (e: MouseEvent) => {
    const rect = (e.currentTarget as SVGElement).getBoundingClientRect();
    const i = Math.floor(((e.clientX - rect.left - PAD.left) / iw) * n);
    setHover(i >= 0 && i < n ? i : null);
  };

  return (
    <div class="chart" data-testid={p.testid} {...(p.attrs ?? {})}>
      <div class="chart-head">
        <span class="chart-title">{p.title}</span>
        {p.summary && <span class="chart-summary">{p.summary}</span>}
        {p.series.length > 1 && (
          <span class="chart-legend">
            {p.series.map((s) => <span key={s.name}><i style={{ background: s.color }} />{s.name}</span>)}
          </span>
        )}
      </div>
      <div class="chart-body" ref={box}>
        <svg width={width} height={height} onMouseMove={onMove} onMouseLeave={() => setHover(null)} role="img" aria-label={p.title}>
          {ticks.map((v) => (
            <g key={v}>
              <line class="grid" x1={PAD.left} x2={width - PAD.right} y1={y(v)} y2={y(v)} />
              <text class="axis" x={PAD.left - 6} y={y(v) + 4} text-anchor="end">{fmt(v)}</text>
            </g>
          ))}
          {xTicks.map((t, i) => (
            <text key={i} class="axis" x={x(t)} y={height - 6} text-anchor={i === 0 ? "start" : i === 4 ? "end" : "middle"}>
              {fmtAxisTime(t, t1 - t0)}
            </text>
          ))}
          {p.series.map((s, si) => p.kind === "bar"
            ? s.values.map((v, i) => v ? (
                <rect key={`${si}-${i}`} class="bar" x={x(p.times[i]) + (bw > 3 ? 0.5 : 0)} width={Math.max(1, bw - (bw > 3 ? 1 : 0))}
                      y={y(v)} height={Math.max(1, PAD.top + ih - y(v))} fill={s.color} />
              ) : null)
            : <Line key={si} s={s} cx={(i) => x(p.times[i]) + bw / 2} y={y} />)}
          {hover !== null && (
            <line class="cursor" x1={x(p.times[hover]) + bw / 2} x2={x(p.times[hover]) + bw / 2} y1={PAD.top} y2={PAD.top + ih} />
          )}
          {empty && <text class="axis chart-nodata" x={PAD.left + iw / 2} y={PAD.top + ih / 2} text-anchor="middle">no data in this range</text>}
        </svg>
        {hover !== null && (
          <div class="tooltip" style={{ left: Math.min(x(p.times[hover]) + bw / 2 + 8, width - 170) }}>
            <div class="tooltip-time">{fmtTime(p.times[hover])}</div>
            {p.series.map((s) => (
              <div key={s.name}><i style={{ background: s.color }} />{s.name}: <b>{s.values[hover] === null ? "–" : fmt(s.values[hover] as number)}</b></div>
            ))}
          </div>
        )}
      </div>
    </div>
  );
}

/** A polyline broken at nulls; a lone point between gaps is drawn as a dot so it stays visible. */
function Line({ s, cx, y }: { s: Series; cx: (i: number) => number; y: (v: number) => number }) {
  const runs: [number, number][][] = [];
  let run: [number, number][] = [];
  s.values.forEach((v, i) => {
    if (v === null || !isFinite(v)) { if (run.length) runs.push(run); run = []; return; }
    run.push([cx(i), y(v)]);
  });
  if (run.length) runs.push(run);
  return (
    <g>
      {runs.map((r, i) => r.length === 1
        ? <circle key={i} cx={r[0][0]} cy={r[0][1]} r={2.5} fill={s.color} />
        : <polyline key={i} points={r.map((pt) => pt.join(",")).join(" ")} fill="none" stroke={s.color} stroke-width={1.6} stroke-linejoin="round" />)}
    </g>
  );
}

export function Sparkline({ values, color, width = 120, height = 28 }: { values: number[]; color: string; width?: number; height?: number }) {
  const max = Math.max(...values, 0) || 1;
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" ");
  return (
    <svg class="sparkline" width={width} height={height} aria-hidden="true">
      <polyline points={pts} fill="none" stroke={color} stroke-width={1.4} />
    </svg>
  );
}
