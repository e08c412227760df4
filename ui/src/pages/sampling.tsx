// Sampling what-if: edit a tail_sampling config and see what it would keep of the stored traces in
// the range — overall, per policy, route rule, service and endpoint — before deploying it.
// Served by POST /api/v1/sampling/what-if (docs/sampling-what-if.md).
import { useEffect, useState } from "preact/hooks";
import { Empty, ErrorBox, Loading } from "../components/states";
import { fmtNumber, serviceColor } from "../format";
import { useTimeWindow } from "../state";

const STORAGE_KEY = "otelflow.sampling.policies";
const SEED_POLICIES = `# tail_sampling settings (or paste a whole collector config)
decision_wait: 30s
policies:
  - { name: errors,   type: status_code, status_code: { status_codes: [ERROR] } }
  - { name: slow,     type: latency,     latency: { threshold_ms: 500 } }
  - { name: probably, type: probabilistic, probabilistic: { sampling_percentage: 5 } }
  # route rule: /healthz traces are kept at 1% instead of by the statistical policies
  - name: healthz
    type: string_attribute
    string_attribute: { key: http.target, values: [/healthz] }
    sampling: { sampling_percentage: 1 }
`;

interface Tally { traces: number; spans: number; bytes: number }
interface Report {
  processor: string; seconds: number; total: Tally;
  kept: Tally & { traces_pct: number; spans_pct: number; bytes_pct: number };
  decisions: { sampled: number; not_sampled: number; dropped: number }; too_large: number;
  policies: { name: string; type: string; decided: Tally; matched: Tally }[];
  routes: { name: string; matched: Tally; kept: Tally }[];
  services: { name: string; total: Tally; kept: Tally; error_spans: number; error_spans_kept: number }[];
  endpoints: { name: string; traces: number; kept: number; spans: number; kept_spans: number }[];
  errors: { traces: number; kept: number; dropped: number };
  slow: { threshold_ms: number; traces: number; kept: number; dropped: number };
  cost: { spans_pct: number; bytes_pct: number; summary: string };
  approximate: Record<string, string>;
}

async function whatIf(policies: string, startUs: number, endUs: number, signal: AbortSignal): Promise<Report[]> {
  let res: Response;
  for (;;) {
    res = await fetch("api/v1/sampling/what-if", {
      method: "POST", signal, headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ policies, start_us: startUs, end_us: endUs }),
    });
    if (res.status !== 429) break;
    // one what-if at a time on the server: a run this page gave up on may still be finishing
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (signal.aborted) throw new DOMException("aborted", "AbortError");
  }
  let body: any = null;
  try { body = await res.json(); } catch { /* reported below */ }
  if (!res.ok) throw new Error(body?.error ?? `${res.status} ${res.statusText}`);
  return body.reports as Report[];
}

function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

const share = (part: number, whole: number) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : "–");

export function SamplingPage() {
  const w = useTimeWindow();
  const [text, setText] = useState(() => localStorage.getItem(STORAGE_KEY) ?? SEED_POLICIES);
  const [ran, setRan] = useState<{ text: string; n: number }>({ text, n: 0 });
  const [state, setState] = useState<{ reports: Report[] | null; error: string | null; loading: boolean }>(
    { reports: null, error: null, loading: true });
  useEffect(() => {
    const ctrl = new AbortController();
    setState((s) => ({ ...s, error: null, loading: true }));
    whatIf(ran.text, w.startUs, w.endUs, ctrl.signal).then(
      (reports) => setState({ reports, error: null, loading: false }),
      (err) => { if (!ctrl.signal.aborted) setState({ reports: null, error: String(err?.message ?? err), loading: false }); },
    );
    return () => ctrl.abort();
  }, [ran, w.startUs, w.endUs, w.tick]);
  const run = (e?: Event) => { e?.preventDefault(); localStorage.setItem(STORAGE_KEY, text); setRan({ text, n: ran.n + 1 }); };

  return (
    <section>
      <h1>Sampling what-if</h1>
      <p class="muted small">What this <code>tail_sampling</code> config would keep of the traces stored in the last {w.range}, decided by
        the processor's own policy code (same hash, same route rules). Edit the YAML and run it again; Ctrl+Enter runs.</p>
      <form onSubmit={run} data-testid="what-if-form">
        <textarea value={text} spellcheck={false} rows={14} data-testid="policies"
          style={{ width: "100%", fontFamily: "ui-monospace, monospace", fontSize: "12px", boxSizing: "border-box" }}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(e); }} />
        <div class="toolbar" style={{ marginTop: "6px" }}>
          <button type="submit" class="primary" data-testid="run">Run what-if</button>
          <button type="button" onClick={() => setText(SEED_POLICIES)}>Reset to the seed's policies</button>
          {state.loading && state.reports && <span class="muted small">running…</span>}
        </div>
      </form>
      {state.error ? <ErrorBox error={state.error} />
        : state.reports === null ? <Loading what="Replaying the stored traces" />
        : state.reports.map((r) => <ReportView key={r.processor} r={r} range={w.range} />)}
    </section>
  );
}

function ReportView({ r, range }: { r: Report; range: string }) {
  if (r.total.traces === 0) return <Empty>No trace stored in the last {range}: nothing to replay. Pick a longer range.</Empty>;
  const k = r.kept;
  return (
    <div data-testid="what-if-report" data-processor={r.processor}>
      <h2>{r.processor}</h2>
      <div class="facts" data-testid="what-if-summary">
        <span>Kept <b data-testid="kept-traces-pct">{k.traces_pct.toFixed(2)}%</b> of {fmtNumber(r.total.traces)} traces</span>
        <span>Spans <b data-testid="kept-spans-pct">{k.spans_pct.toFixed(2)}%</b> ({fmtNumber(k.spans)} of {fmtNumber(r.total.spans)})</span>
        <span>Bytes <b>{k.bytes_pct.toFixed(2)}%</b> (~{fmtBytes(k.bytes)} of {fmtBytes(r.total.bytes)})</span>
        <span>Cost <b data-testid="cost">{r.cost.summary}</b></span>
        <span>Error traces kept <b class={r.errors.dropped ? "err" : ""} data-testid="errors-kept">{fmtNumber(r.errors.kept)} / {fmtNumber(r.errors.traces)}</b></span>
        <span>Slow (&gt; {r.slow.threshold_ms} ms) kept <b class={r.slow.dropped ? "err" : ""}>{fmtNumber(r.slow.kept)} / {fmtNumber(r.slow.traces)}</b></span>
        <span>Decided in <b>{r.seconds.toFixed(1)} s</b></span>
      </div>
      <h3>Per policy</h3>
      <table class="table" data-testid="what-if-policies">
        <thead><tr><th>Policy</th><th>Type</th><th class="num" title="traces tail_sampling's telemetry credits to this policy">Decided traces</th>
          <th class="num">Spans</th><th class="num">Bytes</th><th class="num" title="traces this policy samples by itself">Own vote</th></tr></thead>
        <tbody>{r.policies.map((p) => (
          <tr key={p.name} data-policy={p.name}><td>{p.name}{r.approximate[p.name] && <span class="badge" title={r.approximate[p.name]}> approx.</span>}</td>
            <td class="muted">{p.type}</td><td class="num">{fmtNumber(p.decided.traces)}</td><td class="num">{fmtNumber(p.decided.spans)}</td>
            <td class="num">{fmtBytes(p.decided.bytes)}</td><td class="num">{fmtNumber(p.matched.traces)}</td></tr>))}
        </tbody>
      </table>
      {r.routes.length > 0 && <>
        <h3>Per route rule</h3>
        <table class="table" data-testid="what-if-routes">
          <thead><tr><th>Route</th><th class="num">Matched traces</th><th class="num">Kept</th><th class="num">Kept %</th></tr></thead>
          <tbody>{r.routes.map((x) => (
            <tr key={x.name}><td>{x.name}</td><td class="num">{fmtNumber(x.matched.traces)}</td><td class="num">{fmtNumber(x.kept.traces)}</td>
              <td class="num">{share(x.kept.traces, x.matched.traces)}</td></tr>))}
          </tbody>
        </table>
      </>}
      <h3>Per service</h3>
      <table class="table" data-testid="what-if-services">
        <thead><tr><th>Service</th><th class="num">Spans</th><th class="num">Kept spans</th><th class="num">Kept %</th><th class="num">Bytes kept</th>
          <th class="num">Error spans kept</th></tr></thead>
        <tbody>{r.services.map((s) => (
          <tr key={s.name} data-service={s.name}><td><span class="dot" style={{ background: serviceColor(s.name) }} />{s.name}</td>
            <td class="num">{fmtNumber(s.total.spans)}</td><td class="num">{fmtNumber(s.kept.spans)}</td><td class="num">{share(s.kept.spans, s.total.spans)}</td>
            <td class="num">{fmtBytes(s.kept.bytes)}</td><td class={`num${s.error_spans > s.error_spans_kept ? " err" : ""}`}>{fmtNumber(s.error_spans_kept)} / {fmtNumber(s.error_spans)}</td></tr>))}
        </tbody>
      </table>
      <h3>Per endpoint</h3>
      <table class="table" data-testid="what-if-endpoints">
        <thead><tr><th>Endpoint (root span)</th><th class="num">Traces</th><th class="num">Kept</th><th class="num">Kept %</th></tr></thead>
        <tbody>{r.endpoints.map((e) => (
          <tr key={e.name}><td class="mono">{e.name}</td><td class="num">{fmtNumber(e.traces)}</td><td class="num">{fmtNumber(e.kept)}</td>
            <td class="num">{share(e.kept, e.traces)}</td></tr>))}
        </tbody>
      </table>
      {Object.keys(r.approximate).length > 0 && (
        <ul class="muted small" data-testid="what-if-approximate">
          {Object.entries(r.approximate).map(([name, why]) => <li key={name}><b>{name}</b> is approximate: {why}</li>)}
        </ul>
      )}
    </div>
  );
}
