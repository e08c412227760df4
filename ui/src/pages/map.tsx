// Service map: services as boxes, calls between them as arrows labelled with request rate, error
// rate and p95 (from /api/v1/dependencies for the time range). Laid out in layers by call depth
// (callers left of callees), computed here in SVG: no layout library. A box opens the service, an
// arrow the traces that cross it; queue hops are dashed.
import { useMemo } from "preact/hooks";
import { Empty, Status } from "../components/states";
import { fmtDuration, fmtNumber, serviceColor } from "../format";
import { href, navigate } from "../route";
import { useApi, useTimeWindow } from "../state";

export interface DepNode { name: string; spans: number; errors: number }
export interface DepEdge {
  parent: string; child: string; how: "parent" | "link"; queue: boolean; calls: number; errors: number;
  error_rate: number; rate_per_s: number; p95_us: number | null;
}
interface Deps { nodes: DepNode[]; edges: DepEdge[] }

const NODE_W = 170, NODE_H = 44, COL_W = 400, ROW_H = 96, PAD = 30;

export function fmtRate(perS: number): string {
  if (perS >= 1) return `${fmtNumber(perS)}/s`;
  if (perS * 60 >= 1) return `${fmtNumber(perS * 60)}/min`;
  return `${fmtNumber(perS * 3600)}/h`;
}

const fmtPct = (r: number) => (r === 0 ? "0%" : r < 0.001 ? "<0.1%" : `${(r * 100).toFixed(r < 0.1 ? 1 : 0)}%`);

/** Column = longest call depth from a service nobody calls (cycles stop at the node count);
 *  row order within a column follows the callers' rows to keep arrows short. */
export function layout(nodes: DepNode[], edges: DepEdge[]): Map<string, { x: number; y: number }> {
  const names = nodes.map((n) => n.name).sort();
  const layer = new Map(names.map((n) => [n, 0]));
  for (let round = 0; round < names.length; round++) {
    let changed = false;
    for (const e of edges) {
      if (e.parent === e.child) continue;
      const want = Math.min((layer.get(e.parent) ?? 0) + 1, names.length - 1);
      if (want > (layer.get(e.child) ?? 0)) { layer.set(e.child, want); changed = true; }
    }
    if (!changed) break;
  }
  const columns: string[][] = [];
  for (const n of names) (columns[layer.get(n)!] ??= []).push(n);
  const row = new Map<string, number>();
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach((col, c) => {
    const weight = (n: string) => {
      const callers = edges.filter((e) => e.child === n && row.has(e.parent)).map((e) => row.get(e.parent)!);
      return callers.length ? callers.reduce((a, b) => a + b, 0) / callers.length : Infinity;
    };
    col.sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));
    col.forEach((n, r) => { row.set(n, r); pos.set(n, { x: PAD + c * COL_W, y: PAD + r * ROW_H }); });
  });
  return pos;
}

function edgeLink(e: DepEdge, range: string): string {
  // a parent edge's traces: the callee's spans whose parent span is the caller's; a link edge (batch
  // consumer) has no such parent, so it opens the consumer's traces
  return href("/traces", { service: e.child, parent_service: e.how === "parent" ? e.parent : undefined, range });
}

export function MapPage() {
  const w = useTimeWindow();
  const res = useApi<Deps>("dependencies", { start_us: w.startUs, end_us: w.endUs }, w.tick);
  return (
    <section>
      <h1>Service map</h1>
      <Status {...res} what="Loading the service map">
        {(d) => d.nodes.length === 0
          ? <Empty>No service sent spans in the last {w.range}.</Empty>
          : <MapView deps={d} range={w.range} />}
      </Status>
    </section>
  );
}

function MapView({ deps, range }: { deps: Deps; range: string }) {
  const pos = useMemo(() => layout(deps.nodes, deps.edges), [deps]);
  const width = Math.max(...[...pos.values()].map((p) => p.x)) + NODE_W + PAD;
  const height = Math.max(...[...pos.values()].map((p) => p.y)) + NODE_H + PAD + 30;
  const maxRate = Math.max(...deps.edges.map((e) => e.rate_per_s), 1e-9);
  return (
    <>
      <div class="map-wrap">
        <svg width={width} height={height} class="service-map" data-testid="service-map" aria-label="Service map">
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" class="map-arrowhead" />
            </marker>
          </defs>
          {deps.edges.map((e) => {
            const a = pos.get(e.parent), b = pos.get(e.child);
            if (!a || !b) return null;
            const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
            const back = x2 <= x1; // a call to the same or an earlier column: arc below the boxes
            const d = back
              ? `M ${a.x + NODE_W / 2} ${a.y + NODE_H} C ${a.x + NODE_W / 2} ${a.y + NODE_H + 60}, ${b.x + NODE_W / 2} ${b.y + NODE_H + 60}, ${b.x + NODE_W / 2} ${b.y + NODE_H}`
              : `M ${x1} ${y1} C ${x1 + 60} ${y1}, ${x2 - 60} ${y2}, ${x2} ${y2}`;
            // the label sits on the curve two thirds of the way along (B(t) of the cubic), so arrows fanning
            // out of one box keep their labels apart
            const t = 0.66, u = 1 - t, bez = (p0: number, p1: number, p2: number, p3: number) => u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
            const mx = back ? (a.x + b.x) / 2 + NODE_W / 2 : bez(x1, x1 + 60, x2 - 60, x2);
            const my = back ? Math.max(a.y, b.y) + NODE_H + 50 : bez(y1, y1, y2, y2) - 6;
            const stroke = 1.5 + 3.5 * Math.sqrt(e.rate_per_s / maxRate);
            const label = `${fmtRate(e.rate_per_s)} · ${fmtPct(e.error_rate)} err · p95 ${fmtDuration(e.p95_us)}`;
            return (
              <g key={`${e.parent}>${e.child}>${e.how}`} class={`map-edge clickable${e.errors ? " has-error" : ""}${e.queue ? " queue" : ""}`}
                 data-testid="map-edge" data-parent={e.parent} data-child={e.child} data-how={e.how}
                 onClick={() => navigate(edgeLink(e, range))}>
                <title>{`${e.parent} → ${e.child}${e.queue ? " (queue)" : ""}: ${fmtNumber(e.calls)} calls, ${fmtNumber(e.errors)} errors — open the traces`}</title>
                <path d={d} class="map-edge-hit" />
                <path d={d} class="map-edge-line" style={{ strokeWidth: stroke }} marker-end="url(#arrow)" />
                <text x={mx} y={my} text-anchor="middle" class="map-edge-label" data-testid="edge-label">{label}</text>
              </g>
            );
          })}
          {deps.nodes.map((n) => {
            const p = pos.get(n.name)!;
            return (
              <g key={n.name} class="map-node clickable" data-testid="map-node" data-service={n.name} transform={`translate(${p.x} ${p.y})`}
                 onClick={() => navigate(href(`/services/${encodeURIComponent(n.name)}`, { range }))}>
                <title>{`${n.name}: ${fmtNumber(n.spans)} spans, ${fmtNumber(n.errors)} error spans — open the service`}</title>
                <rect width={NODE_W} height={NODE_H} rx={8} style={{ stroke: serviceColor(n.name) }} class={n.errors ? "has-error" : ""} />
                <circle cx={14} cy={NODE_H / 2} r={5} style={{ fill: serviceColor(n.name) }} />
                <text x={26} y={19} class="map-node-name">{n.name.length > 19 ? `${n.name.slice(0, 18)}…` : n.name}</text>
                <text x={26} y={34} class="map-node-sub">{fmtNumber(n.spans)} spans{n.errors ? ` · ${fmtNumber(n.errors)} err` : ""}</text>
              </g>
            );
          })}
        </svg>
      </div>
      {deps.edges.length === 0 ? <Empty>No calls between services in this range (each service's spans stay within it).</Empty> : (
        <table class="table" data-testid="edges-table">
          <thead><tr><th>Caller</th><th>Callee</th><th>Via</th><th class="num">Calls</th><th class="num">Rate</th><th class="num">Errors</th><th class="num">Error rate</th><th class="num">p95</th></tr></thead>
          <tbody>
            {deps.edges.map((e) => (
              <tr key={`${e.parent}>${e.child}>${e.how}`} class={`clickable${e.errors ? " has-error" : ""}`} data-testid="edge-row"
                  data-parent={e.parent} data-child={e.child} data-how={e.how} data-calls={e.calls} data-errors={e.errors}
                  onClick={() => navigate(edgeLink(e, range))}>
                <td><span class="dot" style={{ background: serviceColor(e.parent) }} />{e.parent}</td>
                <td><span class="dot" style={{ background: serviceColor(e.child) }} />{e.child}</td>
                <td>{e.queue ? (e.how === "link" ? "queue (span link)" : "queue") : "call"}</td>
                <td class="num">{fmtNumber(e.calls)}</td>
                <td class="num" data-testid="edge-rate">{fmtRate(e.rate_per_s)}</td>
                <td class={`num${e.errors ? " err" : ""}`}>{fmtNumber(e.errors)}</td>
                <td class={`num${e.errors ? " err" : ""}`}>{fmtPct(e.error_rate)}</td>
                <td class="num">{fmtDuration(e.p95_us)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
