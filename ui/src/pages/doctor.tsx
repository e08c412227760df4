// Doctor: the SDK mistakes the doctor extension saw in live traffic, grouped by service, errors first.
// Each finding says what was seen, why it matters and how to fix it; a service links to its page.
import { Empty, Status } from "../components/states";
import { fmtNumber, serviceColor } from "../format";
import { href } from "../route";
import { useApi, useTimeWindow } from "../state";

interface Finding {
  rule: string; severity: "error" | "warning" | "info"; service: string; key: string;
  message: string; why: string; fix: string; count: number; last_seen: string; details: Record<string, unknown>;
}
interface DoctorService { name: string; spans: number; points: number; logs: number; requests: number; last_seen: string }
interface DoctorReport {
  generated_at: string; workers: { count: number; reporting: number };
  services: DoctorService[]; findings: Finding[]; stats: Record<string, unknown>;
}

const RANK: Record<string, number> = { error: 0, warning: 1, info: 2 };
const SEV_CLASS: Record<string, string> = { error: "sev-error", warning: "sev-warn", info: "sev-info" };

function groups(report: DoctorReport): [string, Finding[]][] {
  const by = new Map<string, Finding[]>();
  for (const f of report.findings) {
    if (!by.has(f.service)) by.set(f.service, []);
    by.get(f.service)!.push(f);
  }
  const worst = (fs: Finding[]) => Math.min(...fs.map((f) => RANK[f.severity] ?? 3));
  return [...by.entries()].sort((a, b) => worst(a[1]) - worst(b[1]) || a[0].localeCompare(b[0]));
}

export function DoctorPage() {
  const w = useTimeWindow();
  const res = useApi<DoctorReport>("doctor", {}, w.tick);
  if (res.status === 404) {
    return (
      <section>
        <h1>Doctor</h1>
        <Empty>This otelflow has no doctor extension. Add <code>doctor:</code> under <code>extensions</code> and
          <code> service::extensions</code> (the all-in-one default config has it).</Empty>
      </section>
    );
  }
  return (
    <section class="doctor-page">
      <h1>Doctor</h1>
      <p class="muted">Common SDK mistakes seen in the traffic otelflow receives (since it started), by service.
        The same report: <code>otelflow doctor --url {location.origin}</code></p>
      <Status {...res} what="Asking the doctor">
        {(d) => <Report report={d} />}
      </Status>
    </section>
  );
}

function Report({ report }: { report: DoctorReport }) {
  const grouped = groups(report);
  const flagged = new Set(grouped.map(([s]) => s));
  const healthy = report.services.filter((s) => !flagged.has(s.name));
  const errors = report.findings.filter((f) => f.severity === "error").length;
  return (
    <>
      <div class="doctor-summary" data-testid="doctor-summary" data-findings={report.findings.length} data-errors={errors}>
        {report.services.length} service{report.services.length === 1 ? "" : "s"} seen ·{" "}
        <span class={errors ? "err" : ""}>{errors} error{errors === 1 ? "" : "s"}</span> ·{" "}
        {report.findings.length - errors} other finding{report.findings.length - errors === 1 ? "" : "s"}
        {report.workers.count > 1 ? ` · workers ${report.workers.reporting}/${report.workers.count}` : ""}
      </div>
      {report.services.length === 0 ? (
        <Empty>No telemetry received yet. Point an OpenTelemetry SDK at otelflow's OTLP receiver.</Empty>
      ) : grouped.length === 0 ? (
        <Empty>No mistake found in the traffic of {report.services.length} service{report.services.length === 1 ? "" : "s"}.</Empty>
      ) : null}
      {grouped.map(([service, findings]) => <ServiceFindings key={service} service={service} findings={findings} />)}
      {healthy.length > 0 && grouped.length > 0 ? (
        <p class="muted" data-testid="doctor-healthy">No finding for: {healthy.map((s, i) => (
          <span key={s.name}>{i ? ", " : ""}<a href={href(`/services/${encodeURIComponent(s.name)}`)}>{s.name}</a></span>
        ))}</p>
      ) : null}
    </>
  );
}

function ServiceFindings({ service, findings }: { service: string; findings: Finding[] }) {
  return (
    <div class="doctor-service" data-testid="doctor-service" data-service={service}>
      <h2><span class="dot" style={{ background: serviceColor(service) }} />
        <a href={href(`/services/${encodeURIComponent(service)}`)} data-testid="doctor-service-link">{service}</a>
        <span class="muted"> · {findings.length} finding{findings.length === 1 ? "" : "s"}</span></h2>
      {findings.map((f) => <FindingCard key={`${f.rule}/${f.key}`} f={f} />)}
    </div>
  );
}

function FindingCard({ f }: { f: Finding }) {
  return (
    <div class={`doctor-finding doctor-${f.severity}`} data-testid="doctor-finding" data-rule={f.rule}
         data-severity={f.severity} data-service={f.service} data-key={f.key}>
      <div class="doctor-head">
        <span class={`sev ${SEV_CLASS[f.severity] ?? "sev-unset"}`}>{f.severity.toUpperCase()}</span>
        <code class="doctor-rule">{f.rule}</code>
        {f.key ? <span class="badge" title="attribute, label or peer service">{f.key}</span> : null}
        <span class="spacer" />
        <span class="muted" title={`last seen ${f.last_seen}`}>{fmtNumber(f.count)}× · {f.last_seen.replace("T", " ").replace("Z", " UTC")}</span>
      </div>
      <dl class="doctor-body">
        <dt>What</dt><dd data-testid="doctor-what">{f.message}</dd>
        <dt>Why</dt><dd>{f.why}</dd>
        <dt>Fix</dt><dd>{f.fix}</dd>
      </dl>
    </div>
  );
}
