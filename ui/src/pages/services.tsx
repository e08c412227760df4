// Services: every service seen in the range with its RED summary (requests, errors, rate trend).
import type { Red, Service } from "../api";
import { Sparkline } from "../components/chart";
import { Empty, Status } from "../components/states";
import { fmtAgo, fmtNumber, pct, serviceColor } from "../format";
import { href } from "../route";
import { useApi, useTimeWindow } from "../state";

export function ServicesPage() {
  const w = useTimeWindow();
  const res = useApi<{ services: Service[] }>("services", { start_us: w.startUs, end_us: w.endUs }, w.tick);
  return (
    <section>
      <h1>Services</h1>
      <Status {...res} what="Loading services">
        {(d) => d.services.length === 0 ? (
          <Empty>No service sent spans in the last {w.range}. Point an OpenTelemetry SDK at otelflow's OTLP receiver, or pick a longer range.</Empty>
        ) : (
          <table class="table" data-testid="services-table">
            <thead>
              <tr><th>Service</th><th class="num">Requests</th><th class="num">Req/s</th><th class="num">Errors</th>
                <th class="num">Error %</th><th>Requests over time</th><th class="num">Spans</th><th>Last seen</th></tr>
            </thead>
            <tbody>{d.services.map((s) => <ServiceRow key={s.name} s={s} />)}</tbody>
          </table>
        )}
      </Status>
    </section>
  );
}

// RED counts requests (entry spans); a service with none (all its spans internal) shows its error spans
type Totals = Red["totals"] & { error_spans?: number };

function ServiceRow({ s }: { s: Service }) {
  const w = useTimeWindow();
  const red = useApi<Red>("red", { service: s.name, start_us: w.startUs, end_us: w.endUs }, w.tick);
  const t: Totals | undefined = red.data?.totals;
  const errorSpans = t?.error_spans ?? s.errors;
  const noEntry = !!t && t.requests === 0 && errorSpans > 0;
  const seconds = (w.endUs - w.startUs) / 1e6;
  const link = href(`/services/${encodeURIComponent(s.name)}`, { range: w.range });
  return (
    <tr class="clickable" data-testid="service-row" data-service={s.name} onClick={() => { location.hash = link.slice(1); }}>
      <td><span class="dot" style={{ background: serviceColor(s.name) }} /><a href={link}>{s.name}</a></td>
      <td class="num">{t ? fmtNumber(t.requests) : "…"}</td>
      <td class="num">{t ? fmtNumber(t.requests / seconds) : "…"}</td>
      <td class={`num${t && (t.errors || noEntry) ? " err" : ""}`} data-testid="service-errors"
          title={noEntry ? "error spans: this service has no entry (server, consumer or root) spans in the range" : undefined}>
        {!t ? "…" : noEntry ? <>{fmtNumber(errorSpans)} <span class="badge err">spans</span></> : fmtNumber(t.errors)}</td>
      <td class={`num${t && t.errors ? " err" : ""}`}>{t ? (noEntry ? "–" : pct(t.errors, t.requests)) : "…"}</td>
      <td>{red.data ? <Sparkline values={red.data.points.map((p) => p.requests)} color={serviceColor(s.name)} /> : red.error ? <span class="muted" title={red.error}>unavailable</span> : null}</td>
      <td class="num">{fmtNumber(s.spans)}</td>
      <td class="muted">{fmtAgo(s.last_seen_us)}</td>
    </tr>
  );
}
