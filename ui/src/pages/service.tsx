// One service: rate, errors and p50/p95/p99 duration over time, and its operations; picking an
// operation narrows the charts to it.
import type { Operation, Red } from "../api";
import { Chart } from "../components/chart";
import { Empty, ErrorBox, Status } from "../components/states";
import { fmtDuration, fmtNumber, pct, plural, serviceColor } from "../format";
import { href, setParams, type Route } from "../route";
import { useApi, useTimeWindow } from "../state";

const ERR = "var(--err)";

export function ServicePage({ route, service }: { route: Route; service: string }) {
  const w = useTimeWindow();
  const operation = route.params.get("operation") || undefined;
  const red = useApi<Red>("red", { service, operation, start_us: w.startUs, end_us: w.endUs }, w.tick);
  const ops = useApi<{ operations: Operation[] }>("operations", { service, start_us: w.startUs, end_us: w.endUs }, w.tick);
  const pick = (op?: string) => setParams(route, { operation: op }, false);
  return (
    <section>
      <div class="crumbs"><a href={href("/", { range: w.range })}>Services</a> /</div>
      <h1><span class="dot big" style={{ background: serviceColor(service) }} />{service}
        {operation && <span class="chip" data-testid="operation-filter">{operation}<button type="button" title="All operations" onClick={() => pick()}>×</button></span>}
      </h1>
      <div class="toolbar">
        <a class="button" href={href("/traces", { service, operation, range: w.range })}>Find traces</a>
        <a class="button" href={href("/traces", { service, operation, status: "error", range: w.range })}>Error traces</a>
        <a class="button" href={href("/logs", { service, range: w.range })}>Logs</a>
      </div>
      {red.error ? <ErrorBox error={red.error} /> : <RedCharts red={red.data} />}
      <h2>Operations</h2>
      <Status {...ops} what="Loading operations">
        {(d) => d.operations.length === 0 ? <Empty>No operations in the last {w.range}.</Empty> : (
          <table class="table" data-testid="operations-table">
            <thead><tr><th>Operation</th><th>Kind</th><th class="num">Count</th><th class="num">Errors</th>
              <th class="num">Error %</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th></tr></thead>
            <tbody>
              {d.operations.map((o) => (
                <tr key={`${o.name}/${o.kind}`} class={`clickable${o.name === operation ? " selected" : ""}`} data-testid="operation-row"
                    data-operation={o.name} onClick={() => pick(o.name === operation ? undefined : o.name)}>
                  <td>{o.name}</td><td class="muted">{o.kind}</td>
                  <td class="num">{fmtNumber(o.count)}</td>
                  <td class={`num${o.errors ? " err" : ""}`}>{fmtNumber(o.errors)}</td>
                  <td class={`num${o.errors ? " err" : ""}`}>{pct(o.errors, o.count)}</td>
                  <td class="num">{fmtDuration(o.p50_us)}</td><td class="num">{fmtDuration(o.p95_us)}</td><td class="num">{fmtDuration(o.p99_us)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Status>
    </section>
  );
}

function RedCharts({ red }: { red: Red | null }) {
  const times = red?.points.map((p) => p.t_us) ?? [];
  const stepUs = (red?.step_s ?? 60) * 1e6;
  const pts = red?.points ?? [];
  const totals = red?.totals ?? { requests: 0, errors: 0 };
  const state = red ? "ready" : "loading";
  const maxP99 = Math.max(0, ...pts.map((p) => p.p99_us ?? 0));
  const perSec = (v: number) => `${fmtNumber(v)}/s`;
  return (
    <div class="charts">
      <Chart title="Rate" summary={`${plural(totals.requests, "request")} · step ${red?.step_s ?? "…"}s`} kind="bar" times={times} stepUs={stepUs}
             series={[{ name: "requests/s", color: "var(--accent)", values: pts.map((p) => p.rate) }]} fmt={perSec}
             testid="red-chart-rate" attrs={{ "data-total": totals.requests, "data-state": state }} />
      <Chart title="Errors" summary={`${plural(totals.errors, "error")} · ${pct(totals.errors, totals.requests)}`} kind="bar" times={times} stepUs={stepUs}
             series={[{ name: "errors/s", color: ERR, values: pts.map((p) => p.error_rate) }]} fmt={perSec}
             testid="red-chart-errors" attrs={{ "data-total": totals.errors, "data-state": state }} />
      <Chart title="Duration" summary="p50 · p95 · p99" times={times} stepUs={stepUs} fmt={fmtDuration}
             series={[
               { name: "p50", color: "var(--series-1)", values: pts.map((p) => p.p50_us) },
               { name: "p95", color: "var(--series-2)", values: pts.map((p) => p.p95_us) },
               { name: "p99", color: "var(--series-3)", values: pts.map((p) => p.p99_us) },
             ]}
             testid="red-chart-duration" attrs={{ "data-max-us": maxP99, "data-total": totals.requests, "data-state": state }} />
    </div>
  );
}
