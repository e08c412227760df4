// Trace search: by service, operation, duration, status, attributes and the time range; results as
// a duration-over-time scatter and a table, newest first.
import { useEffect, useState } from "preact/hooks";
import { query, type Operation, type Service, type TraceSummary } from "../api";
import { useWidth } from "../components/chart";
import { LiveBar, useLive } from "../components/live";
import { Empty, ErrorBox, Status } from "../components/states";
import { fmtAxisTime, fmtDuration, fmtTime, plural, serviceColor } from "../format";
import { href, navigate, setParams, type Route } from "../route";
import { useApi, useTimeWindow } from "../state";

const UNITS: Record<string, number> = { us: 1, µs: 1, ms: 1e3, s: 1e6, m: 60e6 };

/** "250ms", "1.5s", "800us" or a bare number of milliseconds → microseconds; null when unreadable. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m)?\s*$/.exec(text);
  return m ? Math.round(parseFloat(m[1]) * UNITS[m[2] ?? "ms"]) : null;
}

interface Form { service: string; operation: string; min: string; max: string; status: string; attrs: string; limit: string }

function formFrom(p: URLSearchParams): Form {
  return {
    service: p.get("service") ?? "", operation: p.get("operation") ?? "", min: p.get("min_duration") ?? "",
    max: p.get("max_duration") ?? "", status: p.get("status") ?? "", attrs: p.getAll("attr").join("\n"), limit: p.get("limit") ?? "20",
  };
}

export function TracesPage({ route }: { route: Route }) {
  const w = useTimeWindow();
  const p = route.params;
  const [form, setForm] = useState<Form>(() => formFrom(p));
  useEffect(() => setForm(formFrom(p)), [p.toString()]);
  const services = useApi<{ services: Service[] }>("services", { start_us: w.startUs, end_us: w.endUs }, w.tick);
  const ops = useApi<{ operations: Operation[] }>(form.service ? "operations" : null, { service: form.service, start_us: w.startUs, end_us: w.endUs }, w.tick);

  const minUs = p.get("min_duration") ? parseDuration(p.get("min_duration")!) : undefined;
  const maxUs = p.get("max_duration") ? parseDuration(p.get("max_duration")!) : undefined;
  const badDuration = minUs === null || maxUs === null;
  const filters = {
    service: p.get("service"), operation: p.get("operation"), status: p.get("status"), attr: p.getAll("attr"),
    min_duration_us: minUs ?? undefined, max_duration_us: maxUs ?? undefined, limit: p.get("limit") ?? undefined,
    parent_service: p.get("parent_service"),
  };
  const traces = useApi<{ traces: TraceSummary[] }>(badDuration ? null : "traces", { ...filters, start_us: w.startUs, end_us: w.endUs }, w.tick);
  const liveOn = p.get("live") === "1" && !badDuration;
  const live = useLive<TraceSummary>("traces", filters, liveOn, mergeTraces);

  const set = (k: keyof Form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value, ...(k === "service" ? { operation: "" } : {}) });
  const submit = (e: Event) => {
    e.preventDefault();
    setParams(route, {
      service: form.service, operation: form.operation, min_duration: form.min.trim(), max_duration: form.max.trim(),
      status: form.status, attr: form.attrs.split(/\n|,(?=[^,=]+=)/).map((a) => a.trim()).filter(Boolean),
      limit: form.limit === "20" ? undefined : form.limit,
    }, false);
  };
  const exportUrl = `api/v1/export/traces${query({ ...filters, start_us: w.startUs, end_us: w.endUs })}`;

  return (
    <section>
      <h1>Traces</h1>
      {p.get("parent_service") && (
        <div class="chips"><span class="chip" data-testid="edge-filter">called from {p.get("parent_service")}
          <button type="button" title="Remove this filter" onClick={() => setParams(route, { parent_service: undefined })}>✕</button></span></div>
      )}
      <form class="filters" onSubmit={submit} data-testid="trace-search">
        <label>Service
          <select value={form.service} onChange={set("service")} data-testid="filter-service">
            <option value="">any</option>
            {(services.data?.services ?? []).map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
            {form.service && !services.data?.services.some((s) => s.name === form.service) && <option value={form.service}>{form.service}</option>}
          </select>
        </label>
        <label>Operation
          <select value={form.operation} onChange={set("operation")} disabled={!form.service} data-testid="filter-operation">
            <option value="">any</option>
            {[...new Set((ops.data?.operations ?? []).map((o) => o.name))].map((n) => <option key={n} value={n}>{n}</option>)}
            {form.operation && !ops.data?.operations.some((o) => o.name === form.operation) && <option value={form.operation}>{form.operation}</option>}
          </select>
        </label>
        <label>Min duration<input value={form.min} onInput={set("min")} placeholder="e.g. 100ms" size={9} data-testid="filter-min" /></label>
        <label>Max duration<input value={form.max} onInput={set("max")} placeholder="e.g. 2s" size={9} data-testid="filter-max" /></label>
        <label>Status
          <select value={form.status} onChange={set("status")} data-testid="filter-status">
            <option value="">any</option><option value="error">error</option><option value="ok">ok</option><option value="unset">unset</option>
          </select>
        </label>
        <label class="grow">Attributes
          <input value={form.attrs.replace(/\n/g, ", ")} onInput={(e) => setForm({ ...form, attrs: (e.currentTarget as HTMLInputElement).value })}
                 placeholder="http.route=/checkout, http.status_code=500" data-testid="filter-attr" />
        </label>
        <label>Limit
          <select value={form.limit} onChange={set("limit")}>{["20", "50", "100", "500", "1000"].map((l) => <option key={l}>{l}</option>)}</select>
        </label>
        <button type="submit" class="primary" data-testid="search">Search</button>
      </form>
      <div class="toolbar">
        <LiveBar live={live} on={liveOn} setOn={(on) => setParams(route, { live: on ? "1" : undefined })} what="traces" />
        <div class="spacer" />
        <a class="button" href={exportUrl} download="traces.jsonl" data-testid="export-traces" title="The found traces (spans and their logs) as OTLP/JSON lines">Download OTLP/JSON</a>
        <a class="button" href={href("/import")} data-testid="import-link">Import…</a>
      </div>
      {badDuration ? <ErrorBox error="A duration is a number with an optional unit: 800us, 250ms (the default), 1.5s, 2m." /> : (
        <Status {...traces} what="Searching traces">
          {(found) => { const d = { traces: mergeTraces(found.traces, live.items) }; return d.traces.length === 0 ? <Empty>No trace in the last {w.range} matches these filters{liveOn ? " yet: new ones appear here as they arrive" : ""}.</Empty> : (
            <>
              <Scatter traces={d.traces} />
              <div class="muted small" data-testid="trace-count">{plural(found.traces.length, "trace")}{found.traces.length === Number(p.get("limit") ?? 20) ? " (limit reached)" : ""}{live.items.length ? `, ${live.items.length} live` : ""}</div>
              <table class="table" data-testid="traces-table">
                <thead><tr><th>Started</th><th>Root</th><th class="num">Duration</th><th class="num">Spans</th><th class="num">Errors</th><th>Services</th><th>Trace ID</th></tr></thead>
                <tbody>
                  {d.traces.map((t) => (
                    <tr key={t.trace_id} class={`clickable${t.error_count ? " has-error" : ""}`} data-testid="trace-row" data-trace-id={t.trace_id}
                        data-errors={t.error_count} onClick={() => navigate(href(`/traces/${t.trace_id}`))}>
                      <td class="mono">{fmtTime(t.start_us)}</td>
                      <td><span class="dot" style={{ background: serviceColor(t.root_service) }} />{t.root_service}: <b>{t.root_name}</b></td>
                      <td class="num">{fmtDuration(t.duration_us)}</td>
                      <td class="num">{t.span_count}</td>
                      <td class={`num${t.error_count ? " err" : ""}`}>{t.error_count}</td>
                      <td>{t.services.map((s) => <span key={s} class="tag" style={{ borderColor: serviceColor(s) }}>{s}</span>)}</td>
                      <td class="mono"><a href={href(`/traces/${t.trace_id}`)} onClick={(e) => e.stopPropagation()}>{t.trace_id.slice(0, 16)}…</a></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ); }}
        </Status>
      )}
    </section>
  );
}

/** Newest first: incoming summaries replace the ones of the same trace (a trace grows as its spans arrive). */
function mergeTraces(current: TraceSummary[], incoming: TraceSummary[]): TraceSummary[] {
  const fresh = new Set(incoming.map((t) => t.trace_id));
  return [...incoming, ...current.filter((t) => !fresh.has(t.trace_id))];
}

/** Each found trace as a dot: start time across (the results' own span), duration up (log scale),
 *  red when it has errors; a click opens the trace. */
function Scatter({ traces }: { traces: TraceSummary[] }) {
  const [box, W] = useWidth<HTMLDivElement>(1000);
  const H = 120, P = 14, B = 18;
  const maxD = Math.max(...traces.map((t) => t.duration_us), 1);
  let t0 = Math.min(...traces.map((t) => t.start_us));
  let t1 = Math.max(...traces.map((t) => t.start_us));
  if (t1 - t0 < 1e6) { t0 -= 5e5; t1 += 5e5; }
  const y = (d: number) => H - B - (Math.log10(1 + d) / Math.log10(1 + maxD)) * (H - B - P);
  const x = (t: number) => P + ((t - t0) / (t1 - t0)) * (W - 2 * P);
  return (
    <div class="scatter" ref={box}>
      <svg width={W} height={H} data-testid="trace-scatter" aria-label="Trace durations over time">
        <line class="grid" x1={P} x2={W - P} y1={H - B} y2={H - B} />
        <text class="axis" x={P} y={H - 4}>{fmtAxisTime(t0, t1 - t0)}</text>
        <text class="axis" x={W - P} y={H - 4} text-anchor="end">{fmtAxisTime(t1, t1 - t0)}</text>
        <text class="axis" x={P} y={P - 3}>{fmtDuration(maxD)}</text>
        {traces.map((t) => (
          <circle key={t.trace_id} cx={x(t.start_us)} cy={y(t.duration_us)} r={4.5} class={`clickable ${t.error_count ? "dot-err" : "dot-ok"}`}
                  onClick={() => navigate(href(`/traces/${t.trace_id}`))}>
            <title>{`${t.root_service}: ${t.root_name} — ${fmtDuration(t.duration_us)}, ${t.span_count} spans${t.error_count ? `, ${t.error_count} errors` : ""}`}</title>
          </circle>
        ))}
      </svg>
    </div>
  );
}
