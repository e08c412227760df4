// Formatting of times, durations, numbers and attribute values for display.

export function fmtDuration(us: number | null | undefined): string {
  if (us === null || us === undefined || !isFinite(us)) return "–";
  if (us < 1) return `${(us * 1000).toFixed(0)}ns`;
  if (us < 1000) return `${trim(us)}µs`;
  if (us < 1e6) return `${trim(us / 1000)}ms`;
  if (us < 60e6) return `${trim(us / 1e6)}s`;
  const m = Math.floor(us / 60e6);
  if (m < 60) return `${m}m${Math.round((us % 60e6) / 1e6)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

function trim(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, "") : v.toFixed(2).replace(/\.?0+$/, "");
}

export function fmtNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a === 0 || a >= 1) return Number.isInteger(v) ? String(v) : trim(v);
  return a >= 0.001 ? v.toPrecision(2) : v.toExponential(1);
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local wall-clock time with milliseconds; the date is added when it is not today. */
export function fmtTime(us: number, withDate?: boolean): string {
  const d = new Date(us / 1000);
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const today = new Date().toDateString() === d.toDateString();
  return (withDate ?? !today) ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}` : t;
}

/** A short axis label for a time, precise enough for the given visible span. */
export function fmtAxisTime(us: number, spanUs: number): string {
  const d = new Date(us / 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (spanUs > 2 * 86400e6) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
  if (spanUs < 10 * 60e6) return `${hm}:${pad(d.getSeconds())}`;
  return hm;
}

export function fmtAgo(us: number): string {
  const s = Math.max(0, (Date.now() * 1000 - us) / 1e6);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function fmtValue(v: unknown): string {
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function pct(part: number, whole: number): string {
  if (!whole) return "0%";
  const p = (100 * part) / whole;
  return p > 0 && p < 0.1 ? "<0.1%" : `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

/** Severity class from an OTLP severity number (1-4 trace ... 21-24 fatal). */
export function severityClass(n: number): string {
  if (n >= 21) return "fatal";
  if (n >= 17) return "error";
  if (n >= 13) return "warn";
  if (n >= 9) return "info";
  if (n >= 5) return "debug";
  return n >= 1 ? "trace" : "unset";
}

export function severityLabel(n: number, text: string): string {
  return text || (n ? severityClass(n).toUpperCase() : "–");
}

/** A stable colour per service name: a hue from the name's hash, the same on every page. */
export function serviceColor(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  const hue = ((h >>> 0) % 360 + 360) % 360;
  return `hsl(${hue} 55% 52%)`;
}

/** "1 trace", "3 traces": a count with its noun. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmtNumber(n)} ${n === 1 ? one : many}`;
}
