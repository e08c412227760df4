// One trace as a waterfall: a row per span, indented by depth, its bar placed by start and duration,
// coloured by service (red on error). A click opens the span's details; the trace's logs are listed
// below and a click on one selects (and scrolls to) its span.
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Attrs, LogRecord, Span, Trace } from "../api";
import { Empty, ErrorBox, Loading } from "../components/states";
import { fmtDuration, fmtTime, fmtValue, plural, serviceColor, severityClass, severityLabel } from "../format";
import { href, setParams, type Route } from "../route";
import { useApi, useTimeWindow } from "../state";

interface Row { span: Span; depth: number; children: number }

const MAX_ROWS = 2000;

/** Depth-first order with children by start time; spans whose parent is not in the trace are roots. */
export function layout(spans: Span[], collapsed: Set<string>): Row[] {
  const ids = new Set(spans.map((s) => s.span_id));
  const kids = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parent_span_id && ids.has(s.parent_span_id) && s.parent_span_id !== s.span_id) {
      const list = kids.get(s.parent_span_id);
      if (list) list.push(s); else kids.set(s.parent_span_id, [s]);
    } else roots.push(s);
  }
  const byStart = (a: Span, b: Span) => a.start_us - b.start_us;
  roots.sort(byStart);
  const out: Row[] = [];
  const seen = new Set<string>();
  const stack: [Span, number][] = roots.slice().reverse().map((s) => [s, 0]);
  while (stack.length) {
    const [span, depth] = stack.pop()!;
    if (seen.has(span.span_id)) continue; // guards against cycles in bad data
    seen.add(span.span_id);
    const children = (kids.get(span.span_id) ?? []).sort(byStart);
    out.push({ span, depth, children: children.length });
    if (!collapsed.has(span.span_id)) for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], depth + 1]);
  }
  return out;
}

export function TracePage({ route, traceId }: { route: Route; traceId: string }) {
  const w = useTimeWindow();
  const res = useApi<Trace>(`traces/${encodeURIComponent(traceId)}`, {}, w.tick);
  const selected = route.params.get("span") ?? "";
  const select = (id: string, toggle = true) => setParams(route, { span: toggle && id === selected ? undefined : id });

  if (res.error) {
    return (
      <section>
        <h1>Trace <span class="mono">{traceId}</span></h1>
        {res.status === 404
          ? <Empty>Trace {traceId} is not in the store (it may not have arrived yet, or was removed by retention).</Empty>
          : <ErrorBox error={res.error} />}
      </section>
    );
  }
  if (!res.data) return <Loading what="Loading trace" />;
  return <Waterfall trace={res.data} selected={selected} select={select} />;
}

function Waterfall({ trace, selected, select }: { trace: Trace; selected: string; select: (id: string, toggle?: boolean) => void }) {
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [showAll, setShowAll] = useState(false);
  const allRows = useMemo(() => layout(trace.spans, collapsed), [trace, collapsed]);
  // A huge trace draws its first rows at once; the rest on request (or when a selected span is further down).
  const selectedAt = selected ? allRows.findIndex((r) => r.span.span_id === selected) : -1;
  const rows = showAll || allRows.length <= MAX_ROWS || selectedAt >= MAX_ROWS ? allRows : allRows.slice(0, MAX_ROWS);
  const t0 = Math.min(...trace.spans.map((s) => s.start_us));
  const t1 = Math.max(...trace.spans.map((s) => s.end_us));
  const total = Math.max(1, t1 - t0);
  const root = rows[0]?.span;
  const services = [...new Set(trace.spans.map((s) => s.service))];
  const errors = trace.spans.filter((s) => s.status_code === "error").length;
  const logsBySpan = useMemo(() => {
    const m = new Map<string, number>();
    for (const l of trace.logs) if (l.span_id) m.set(l.span_id, (m.get(l.span_id) ?? 0) + 1);
    return m;
  }, [trace]);

  useEffect(() => {
    if (!selected) return;
    document.querySelector(`[data-testid="span-row"][data-span-id="${CSS.escape(selected)}"]`)?.scrollIntoView({ block: "nearest" });
  }, [selected, rows]);

  const toggle = (id: string) => {
    const next = new Set(collapsed);
    if (next.has(id)) next.delete(id); else next.add(id);
    setCollapsed(next);
  };

  if (!trace.spans.length) {
    return <section><h1>Trace <span class="mono">{trace.trace_id}</span></h1><Empty>This trace has logs but none of its spans arrived.</Empty><Logs logs={trace.logs} selected={selected} select={select} t0={0} /></section>;
  }

  return (
    <section data-testid="trace-view" data-trace-id={trace.trace_id} data-span-count={trace.spans.length}>
      <h1>{root ? <><span class="dot big" style={{ background: serviceColor(root.service) }} />{root.service}: {root.name}</> : "Trace"}</h1>
      <div class="facts" data-testid="trace-header">
        <span>Trace <b class="mono">{trace.trace_id}</b></span>
        <span>Started <b>{fmtTime(t0, true)}</b></span>
        <span>Duration <b>{fmtDuration(total)}</b></span>
        <span>Spans <b data-testid="trace-span-count">{trace.spans.length}</b></span>
        <span>Errors <b class={errors ? "err" : ""}>{errors}</b></span>
        <span>Logs <b>{trace.logs.length}</b></span>
        <span class="legend">{services.map((s) => <span key={s}><i style={{ background: serviceColor(s) }} />{s}</span>)}</span>
        <a class="button" href={`api/v1/export/trace/${trace.trace_id}`} download={`trace-${trace.trace_id}.jsonl`} data-testid="export-trace"
           title="This trace's spans and logs as OTLP/JSON lines (the file exporter's format; import it here or elsewhere)">Download OTLP/JSON</a>
      </div>
      <div class="waterfall" data-testid="waterfall">
        <div class="wf-head">
          <div class="wf-name">Service · operation</div>
          <div class="wf-timeline">
            {[0, 0.25, 0.5, 0.75, 1].map((f) => <span key={f} style={{ left: `${f * 100}%` }}>{fmtDuration(f * total)}</span>)}
          </div>
        </div>
        {rows.map(({ span, depth, children }) => {
          const left = ((span.start_us - t0) / total) * 100;
          const width = Math.max(0.2, (span.duration_us / total) * 100);
          const isSel = span.span_id === selected;
          const err = span.status_code === "error";
          const logs = logsBySpan.get(span.span_id);
          return (
            <div key={span.span_id}>
              <div class={`wf-row${isSel ? " selected" : ""}${err ? " error" : ""}`} data-testid="span-row" data-span-id={span.span_id}
                   data-service={span.service} data-status={span.status_code} onClick={() => select(span.span_id)}>
                <div class="wf-name" style={{ paddingLeft: `${8 + depth * 14}px` }}>
                  {children
                    ? <button type="button" class="twisty" onClick={(e) => { e.stopPropagation(); toggle(span.span_id); }}
                              title={collapsed.has(span.span_id) ? `Show ${children} children` : "Hide children"}>{collapsed.has(span.span_id) ? "▸" : "▾"}</button>
                    : <span class="twisty" />}
                  <span class="dot" style={{ background: serviceColor(span.service) }} />
                  <span class="svc">{span.service}</span>
                  <span class="op" title={span.name}>{span.name}</span>
                  {err && <span class="badge err" title={span.status_message}>error</span>}
                  {logs && <span class="badge" title={`${logs} log records`}>{logs} log{logs > 1 ? "s" : ""}</span>}
                </div>
                <div class="wf-timeline">
                  <div class="wf-bar" style={{ left: `${left}%`, width: `${width}%`, background: err ? "var(--err)" : serviceColor(span.service) }}>
                    {span.events.map((ev, i) => (
                      <i key={i} class="wf-event" style={{ left: `${((ev.time_us - span.start_us) / Math.max(1, span.duration_us)) * 100}%` }} title={ev.name} />
                    ))}
                  </div>
                  <DurationLabel left={left} width={width} us={span.duration_us} />
                </div>
              </div>
              {isSel && <SpanDetails span={span} t0={t0} logs={trace.logs.filter((l) => l.span_id === span.span_id)} />}
            </div>
          );
        })}
        {rows.length < allRows.length && (
          <div class="wf-more"><button type="button" onClick={() => setShowAll(true)}>Show all {allRows.length} spans ({allRows.length - rows.length} more)</button></div>
        )}
      </div>
      <Logs logs={trace.logs} selected={selected} select={select} t0={t0} />
    </section>
  );
}

/** The duration beside its bar, or inside a long bar that reaches the right edge. */
function DurationLabel({ left, width, us }: { left: number; width: number; us: number }) {
  if (left + width <= 85) return <span class="wf-dur" style={{ left: `${left + width + 0.5}%` }}>{fmtDuration(us)}</span>;
  if (width >= 10) return <span class="wf-dur inside" style={{ right: `${100 - left - width + 0.5}%` }}>{fmtDuration(us)}</span>;
  return <span class="wf-dur" style={{ right: `${100 - left + 0.5}%` }}>{fmtDuration(us)}</span>;
}

function SpanDetails({ span, t0, logs }: { span: Span; t0: number; logs: LogRecord[] }) {
  const w = useTimeWindow();
  return (
    <div class="span-details" data-testid="span-details" data-span-id={span.span_id}>
      <div class="facts">
        <span>Span <b class="mono">{span.span_id}</b></span>
        {span.parent_span_id && <span>Parent <b class="mono">{span.parent_span_id}</b></span>}
        <span>Kind <b>{span.kind}</b></span>
        <span>Start <b>+{fmtDuration(span.start_us - t0)}</b></span>
        <span>Duration <b>{fmtDuration(span.duration_us)}</b></span>
        <span>Status <b class={span.status_code === "error" ? "err" : ""}>{span.status_code}{span.status_message ? `: ${span.status_message}` : ""}</b></span>
        <span><a href={href(`/services/${encodeURIComponent(span.service)}`, { operation: span.name, range: w.range })}>RED of this operation</a></span>
      </div>
      <div class="detail-grid">
        <KeyValues title="Attributes" values={span.attributes} testid="span-attributes" />
        <KeyValues title="Resource" values={span.resource} testid="span-resource" />
        <div>
          <h4>Events ({span.events.length})</h4>
          {span.events.length === 0 ? <div class="muted small">none</div> : span.events.map((ev, i) => (
            <div key={i} class="event" data-testid="span-event">
              <div><span class="mono muted">+{fmtDuration(ev.time_us - span.start_us)}</span> <b>{ev.name}</b></div>
              <KeyValues values={ev.attributes} />
            </div>
          ))}
        </div>
        <div>
          <h4>Links ({span.links.length})</h4>
          {span.links.length === 0 ? <div class="muted small">none</div> : span.links.map((l, i) => (
            <div key={i} class="event" data-testid="span-link">
              <a class="mono" href={href(`/traces/${l.trace_id}`, { span: l.span_id })}>{l.trace_id.slice(0, 16)}… / {l.span_id}</a>
              <KeyValues values={l.attributes} />
            </div>
          ))}
          <h4>Scope</h4>
          <div class="mono small" data-testid="span-scope">{span.scope_name || "–"}{span.scope_version ? ` ${span.scope_version}` : ""}</div>
          {span.trace_state && <><h4>Trace state</h4><div class="mono small">{span.trace_state}</div></>}
          {logs.length > 0 && <div class="small muted">Logs from this span: {plural(logs.length, "record")}, highlighted below.</div>}
        </div>
      </div>
    </div>
  );
}

export function KeyValues({ title, values, testid }: { title?: string; values: Attrs; testid?: string }) {
  const keys = Object.keys(values ?? {}).sort();
  return (
    <div data-testid={testid}>
      {title && <h4>{title} ({keys.length})</h4>}
      {keys.length === 0 ? (title ? <div class="muted small">none</div> : null) : (
        <table class="kv">
          <tbody>{keys.map((k) => <tr key={k}><td class="k">{k}</td><td class="v">{fmtValue(values[k])}</td></tr>)}</tbody>
        </table>
      )}
    </div>
  );
}

function Logs({ logs, selected, select, t0 }: { logs: LogRecord[]; selected: string; select: (id: string, toggle?: boolean) => void; t0: number }) {
  const sorted = useMemo(() => logs.slice().sort((a, b) => a.time_us - b.time_us), [logs]);
  return (
    <div class="trace-logs">
      <h2>Logs in this trace ({logs.length})</h2>
      {sorted.length === 0 ? <Empty>No log record carries this trace's ID.</Empty> : (
        <table class="table" data-testid="trace-logs">
          <thead><tr><th>Time</th><th>Offset</th><th>Service</th><th>Severity</th><th>Body</th><th>Span</th></tr></thead>
          <tbody>
            {sorted.map((l, i) => (
              <tr key={i} class={`clickable${l.span_id && l.span_id === selected ? " selected" : ""}`} data-testid="trace-log-row" data-span-id={l.span_id}
                  onClick={() => l.span_id && select(l.span_id, false)}>
                <td class="mono">{fmtTime(l.time_us)}</td>
                <td class="mono muted">{t0 ? `+${fmtDuration(l.time_us - t0)}` : ""}</td>
                <td><span class="dot" style={{ background: serviceColor(l.service) }} />{l.service}</td>
                <td><span class={`sev sev-${severityClass(l.severity_number)}`}>{severityLabel(l.severity_number, l.severity_text)}</span></td>
                <td class="body">{l.body}</td>
                <td class="mono">{l.span_id ? <a href={href(`/traces/${l.trace_id}`, { span: l.span_id })} onClick={(e) => { e.preventDefault(); e.stopPropagation(); select(l.span_id, false); }}>{l.span_id}</a> : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
