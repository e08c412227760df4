// Logs: newest first, filtered by service, minimum severity, body text and trace ID. A log that
// carries a trace ID opens that trace's waterfall with its span selected.
import { useEffect, useState } from "preact/hooks";
import { query, type LogRecord, type Service } from "../api";
import { LiveBar, useLive } from "../components/live";
import { Empty, Status } from "../components/states";
import { fmtTime, plural, serviceColor, severityClass, severityLabel } from "../format";
import { href, navigate, setParams, type Route } from "../route";
import { useApi, useTimeWindow } from "../state";
import { KeyValues } from "./trace";

const SEVERITIES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

export function LogsPage({ route }: { route: Route }) {
  const w = useTimeWindow();
  const p = route.params;
  const [q, setQ] = useState(p.get("q") ?? "");
  const [traceId, setTraceId] = useState(p.get("trace_id") ?? "");
  useEffect(() => { setQ(p.get("q") ?? ""); setTraceId(p.get("trace_id") ?? ""); }, [p.toString()]);
  const services = useApi<{ services: Service[] }>("services", { start_us: w.startUs, end_us: w.endUs }, w.tick);
  const filters = { service: p.get("service"), severity: p.get("severity"), q: p.get("q"), trace_id: p.get("trace_id"), limit: p.get("limit") ?? undefined };
  const logs = useApi<{ logs: LogRecord[] }>("logs", { ...filters, start_us: w.startUs, end_us: w.endUs }, w.tick);
  const liveOn = p.get("live") === "1";
  const live = useLive<LogRecord>("logs", filters, liveOn, (cur, incoming) => [...incoming, ...cur]);
  const exportUrl = `api/v1/export/logs${query({ ...filters, start_us: w.startUs, end_us: w.endUs })}`;
  const change = (k: string) => (e: Event) => setParams(route, { [k]: (e.currentTarget as HTMLSelectElement).value }, false);
  const submit = (e: Event) => { e.preventDefault(); setParams(route, { q: q.trim(), trace_id: traceId.trim().toLowerCase() }, false); };
  const limit = Number(p.get("limit") ?? 100);

  return (
    <section>
      <h1>Logs</h1>
      <form class="filters" onSubmit={submit} data-testid="log-search">
        <label>Service
          <select value={p.get("service") ?? ""} onChange={change("service")} data-testid="filter-service">
            <option value="">any</option>
            {(services.data?.services ?? []).map((s) => <option key={s.name}>{s.name}</option>)}
            {p.get("service") && !services.data?.services.some((s) => s.name === p.get("service")) && <option>{p.get("service")}</option>}
          </select>
        </label>
        <label>Severity at least
          <select value={p.get("severity") ?? ""} onChange={change("severity")} data-testid="filter-severity">
            <option value="">any</option>
            {SEVERITIES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label class="grow">Body contains<input value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="text, case-insensitive" data-testid="filter-q" /></label>
        <label>Trace ID<input value={traceId} onInput={(e) => setTraceId(e.currentTarget.value)} placeholder="32 hex digits" size={34} class="mono" /></label>
        <label>Limit
          <select value={String(limit)} onChange={change("limit")}>{["100", "500", "1000"].map((l) => <option key={l}>{l}</option>)}</select>
        </label>
        <button type="submit" class="primary" data-testid="search">Search</button>
      </form>
      <div class="toolbar">
        <LiveBar live={live} on={liveOn} setOn={(on) => setParams(route, { live: on ? "1" : undefined })} what="records" />
        <div class="spacer" />
        <a class="button" href={exportUrl} download="logs.jsonl" data-testid="export-logs" title="The found records as OTLP/JSON lines">Download OTLP/JSON</a>
      </div>
      <Status {...logs} what="Loading logs">
        {(found) => { const d = { logs: [...live.items, ...found.logs] }; return d.logs.length === 0 ? <Empty>No log record in the last {w.range} matches these filters{liveOn ? " yet: new ones appear here as they arrive" : ""}.</Empty> : (
          <>
            <div class="muted small" data-testid="log-count">{plural(found.logs.length, "record")}{found.logs.length === limit ? " (limit reached: narrow the filters or the range)" : ""}{live.items.length ? `, ${live.items.length} live` : ""}</div>
            <table class="table logs" data-testid="logs-table">
              <thead><tr><th /><th>Time</th><th>Service</th><th>Severity</th><th>Body</th><th>Trace</th></tr></thead>
              <tbody>{d.logs.map((l, i) => <LogRow key={`${l.time_us}-${i}`} log={l} />)}</tbody>
            </table>
          </>
        ); }}
      </Status>
    </section>
  );
}

function LogRow({ log }: { log: LogRecord }) {
  const [open, setOpen] = useState(false);
  const link = log.trace_id ? href(`/traces/${log.trace_id}`, { span: log.span_id }) : null;
  const sev = severityClass(log.severity_number);
  return (
    <>
      <tr class={`${link ? "clickable" : ""} sev-row-${sev}`} data-testid="log-row" data-trace-id={log.trace_id} data-severity={log.severity_number}
          onClick={() => (link ? navigate(link) : setOpen(!open))} title={link ? "Open this log's trace" : undefined}>
        <td><button type="button" class="twisty" title="Attributes and resource" onClick={(e) => { e.stopPropagation(); setOpen(!open); }}>{open ? "▾" : "▸"}</button></td>
        <td class="mono nowrap">{fmtTime(log.time_us)}</td>
        <td class="nowrap"><span class="dot" style={{ background: serviceColor(log.service) }} />{log.service}</td>
        <td><span class={`sev sev-${sev}`}>{severityLabel(log.severity_number, log.severity_text)}</span></td>
        <td class="body">{log.event_name && <span class="tag">{log.event_name}</span>}{log.body}</td>
        <td class="mono">{link ? <a href={link} onClick={(e) => e.stopPropagation()}>{log.trace_id.slice(0, 12)}…</a> : <span class="muted">–</span>}</td>
      </tr>
      {open && (
        <tr class="log-details"><td /><td colSpan={5}>
          <div class="detail-grid">
            <KeyValues title="Attributes" values={log.attributes} />
            <KeyValues title="Resource" values={log.resource} />
            <div class="small">
              <h4>Record</h4>
              <div>Scope <span class="mono">{log.scope_name || "–"}</span></div>
              <div>Observed <span class="mono">{fmtTime(log.observed_us)}</span></div>
              <div>Severity number <span class="mono">{log.severity_number}</span></div>
              {log.span_id && <div>Span <span class="mono">{log.span_id}</span></div>}
            </div>
          </div>
        </td></tr>
      )}
    </>
  );
}
