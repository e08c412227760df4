// The embedded store's JSON API (served by the web_ui extension), typed as docs/ui.md describes it.
// Times and durations are integer microseconds.

export type Attrs = Record<string, unknown>;

export interface Service { name: string; spans: number; errors: number; last_seen_us: number }
export interface Operation {
  name: string; kind: string; count: number; errors: number;
  p50_us: number | null; p95_us: number | null; p99_us: number | null;
}
export interface TraceSummary {
  trace_id: string; root_service: string; root_name: string; start_us: number; duration_us: number;
  span_count: number; error_count: number; services: string[];
}
export interface SpanEvent { time_us: number; name: string; attributes: Attrs }
export interface SpanLink { trace_id: string; span_id: string; trace_state: string; attributes: Attrs }
export interface Span {
  trace_id: string; span_id: string; parent_span_id: string; trace_state: string; service: string;
  name: string; kind: string; start_us: number; end_us: number; duration_us: number;
  status_code: "unset" | "ok" | "error"; status_message: string; attributes: Attrs;
  events: SpanEvent[]; links: SpanLink[]; resource: Attrs; scope_name: string; scope_version: string;
}
export interface LogRecord {
  time_us: number; observed_us: number; service: string; severity_number: number; severity_text: string;
  body: string; attributes: Attrs; resource: Attrs; scope_name: string; trace_id: string; span_id: string;
  event_name: string;
}
export interface Trace { trace_id: string; spans: Span[]; logs: LogRecord[] }
export interface RedPoint {
  t_us: number; requests: number; errors: number; rate: number; error_rate: number;
  p50_us: number | null; p95_us: number | null; p99_us: number | null;
}
export interface Red {
  service: string; operation: string | null; step_s: number; points: RedPoint[];
  totals: { requests: number; errors: number };
}
export interface MetricInfo {
  name: string; type: string; unit: string; description: string; services: string[]; label_keys: string[];
}
export interface MetricSeries { labels: Record<string, string>; points: { t_us: number; value: number | null }[] }
export interface MetricQuery { name: string; type: string; unit: string; step_s: number; series: MetricSeries[] }

/** Query parameters; arrays repeat the key, empty values are left out. */
export type Params = Record<string, string | number | undefined | null | (string | number)[]>;

export function query(params: Params): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") q.append(key, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** GET an API path; a non-2xx answer becomes an ApiError carrying the server's "error" text. */
export async function get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`api/v1/${path}${query(params)}`, { signal, headers: { Accept: "application/json" } });
  let body: any = null;
  try { body = await res.json(); } catch { /* not JSON: reported below */ }
  if (!res.ok) throw new ApiError(res.status, body?.error ?? `${res.status} ${res.statusText}`);
  if (body === null) throw new ApiError(res.status, "the server answered with something that is not JSON");
  return body as T;
}
