// Metrics: pick any received metric by name, narrow it by labels and service, split it by label keys,
// and chart it over the range (gauges averaged, cumulative counters as per-second rates).
import { useState } from "preact/hooks";
import type { MetricInfo, MetricQuery } from "../api";
import { Chart } from "../components/chart";
import { Empty, Status } from "../components/states";
import { fmtNumber } from "../format";
import { setParams, type Route } from "../route";
import { useApi, useTimeWindow } from "../state";

const PALETTE = ["var(--series-1)", "var(--series-2)", "var(--series-3)", "var(--series-4)", "var(--series-5)", "var(--series-6)", "var(--series-7)", "var(--series-8)"];
const MAX_SERIES = 20;

export function MetricsPage({ route }: { route: Route }) {
  const w = useTimeWindow();
  const p = route.params;
  const name = p.get("name") ?? "";
  const [filter, setFilter] = useState("");
  const list = useApi<{ metrics: MetricInfo[] }>("metrics", { start_us: w.startUs, end_us: w.endUs }, w.tick);
  const info = list.data?.metrics.find((m) => m.name === name);
  const pick = (m: string) => setParams(route, { name: m, label: undefined, group_by: undefined, service: undefined }, false);
  const shown = (list.data?.metrics ?? []).filter((m) => m.name.toLowerCase().includes(filter.toLowerCase()));

  return (
    <section class="metrics-page">
      <aside class="metric-list">
        <input value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder="Filter metrics" data-testid="metric-filter" />
        <Status {...list} what="Loading metrics">
          {(d) => d.metrics.length === 0 ? <Empty>No metric arrived in the last {w.range}.</Empty> : (
            <ul>
              {shown.map((m) => (
                <li key={m.name} class={m.name === name ? "active" : ""} data-testid="metric-item" data-metric={m.name} onClick={() => pick(m.name)}>
                  <div class="mono">{m.name}</div>
                  <div class="muted small">{m.type}{m.unit ? ` · ${m.unit}` : ""} · {m.services.join(", ")}</div>
                </li>
              ))}
            </ul>
          )}
        </Status>
      </aside>
      <div class="metric-main">
        {!name ? <Empty>Pick a metric on the left to chart it.</Empty> : <MetricView route={route} name={name} info={info} />}
      </div>
    </section>
  );
}

function MetricView({ route, name, info }: { route: Route; name: string; info?: MetricInfo }) {
  const w = useTimeWindow();
  const p = route.params;
  const labels = p.getAll("label");
  const groupBy = p.getAll("group_by");
  const service = p.get("service") ?? "";
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const q = useApi<MetricQuery>("metrics/query", { name, label: labels, group_by: groupBy, service, start_us: w.startUs, end_us: w.endUs }, w.tick);
  const addLabel = (e: Event) => {
    e.preventDefault();
    if (!key) return;
    setParams(route, { label: [...labels, `${key}=${value}`] }, false);
    setValue("");
  };
  const toggleGroup = (k: string) => setParams(route, { group_by: groupBy.includes(k) ? groupBy.filter((g) => g !== k) : [...groupBy, k] }, false);

  return (
    <div>
      <h1 class="mono">{name}</h1>
      {info && <div class="facts"><span>Type <b>{info.type}</b></span>{info.unit && <span>Unit <b>{info.unit}</b></span>}{info.description && <span>{info.description}</span>}</div>}
      <div class="filters">
        {info && info.services.length > 1 && (
          <label>Service
            <select value={service} onChange={(e) => setParams(route, { service: e.currentTarget.value }, false)}>
              <option value="">any</option>{info.services.map((s) => <option key={s}>{s}</option>)}
            </select>
          </label>
        )}
        <form class="inline" onSubmit={addLabel}>
          <label>Label
            <select value={key} onChange={(e) => setKey(e.currentTarget.value)} data-testid="label-key">
              <option value="">key…</option>{(info?.label_keys ?? []).map((k) => <option key={k}>{k}</option>)}
            </select>
          </label>
          <label>equals<input value={value} onInput={(e) => setValue(e.currentTarget.value)} size={14} data-testid="label-value" /></label>
          <button type="submit" disabled={!key}>Add filter</button>
        </form>
        {info && info.label_keys.length > 0 && (
          <div class="group-by">Split by
            {info.label_keys.map((k) => (
              <label key={k} class="check"><input type="checkbox" checked={groupBy.includes(k)} onChange={() => toggleGroup(k)} />{k}</label>
            ))}
            {groupBy.length === 0 && <span class="muted small">(all labels)</span>}
          </div>
        )}
      </div>
      {labels.length > 0 && (
        <div class="chips">{labels.map((l) => (
          <span key={l} class="chip">{l}<button type="button" title="Remove" onClick={() => setParams(route, { label: labels.filter((x) => x !== l) }, false)}>×</button></span>
        ))}</div>
      )}
      <Status {...q} what="Querying">
        {(d) => {
          const series = d.series.slice(0, MAX_SERIES);
          const times = [...new Set(series.flatMap((s) => s.points.map((pt) => pt.t_us)))].sort((a, b) => a - b);
          const points = series.reduce((n, s) => n + s.points.filter((pt) => pt.value !== null).length, 0);
          const label = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(", ") || "(no labels)";
          if (!d.series.length) return <Empty>No point of {name} matches in the last {w.range}.</Empty>;
          return (
            <>
              <Chart title={name} summary={`${describe(d)}${d.series.length > MAX_SERIES ? ` · first ${MAX_SERIES} of ${d.series.length} series` : ""}`}
                     times={times} stepUs={d.step_s * 1e6} height={260}
                     series={series.map((s, i) => {
                       const byT = new Map(s.points.map((pt) => [pt.t_us, pt.value]));
                       return { name: label(s.labels), color: PALETTE[i % PALETTE.length], values: times.map((t) => byT.get(t) ?? null) };
                     })}
                     testid="metric-chart" attrs={{ "data-name": d.name, "data-series": d.series.length, "data-points": points }} />
              <table class="table" data-testid="series-table">
                <thead><tr><th>Series</th><th class="num">Last</th><th class="num">Min</th><th class="num">Avg</th><th class="num">Max</th></tr></thead>
                <tbody>{series.map((s, i) => {
                  const vals = s.points.map((pt) => pt.value).filter((v): v is number => v !== null);
                  return (
                    <tr key={i} data-testid="series-row" data-labels={JSON.stringify(s.labels)}>
                      <td><span class="dot" style={{ background: PALETTE[i % PALETTE.length] }} />{label(s.labels)}</td>
                      <td class="num">{fmtNumber(vals[vals.length - 1])}</td>
                      <td class="num">{vals.length ? fmtNumber(Math.min(...vals)) : "–"}</td>
                      <td class="num">{vals.length ? fmtNumber(vals.reduce((a, b) => a + b, 0) / vals.length) : "–"}</td>
                      <td class="num">{vals.length ? fmtNumber(Math.max(...vals)) : "–"}</td>
                    </tr>
                  );
                })}</tbody>
              </table>
            </>
          );
        }}
      </Status>
    </div>
  );
}

/** What a plotted value means for this metric type (see the API's aggregation rules). */
function describe(d: MetricQuery): string {
  const unit = d.unit ? ` ${d.unit}` : "";
  switch (d.type) {
    case "gauge": return `average per ${d.step_s}s${unit}`;
    case "sum": return `rate per second or value${unit} · step ${d.step_s}s`;
    case "histogram": case "exponential_histogram": case "summary": return `mean (sum/count) per ${d.step_s}s${unit}`;
    default: return `step ${d.step_s}s`;
  }
}
