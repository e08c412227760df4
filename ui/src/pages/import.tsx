// Import: drop or pick an OTLP file (JSON lines as the file exporter writes them, one JSON request,
// or OTLP/protobuf) and POST it to /api/v1/import; the server validates it whole before storing any
// of it, so an error names the bad line and nothing was imported.
import { useState } from "preact/hooks";
import { ErrorBox } from "../components/states";
import { fmtNumber, plural } from "../format";
import { href } from "../route";

interface Imported { requests: number; imported: { spans: number; logs: number; metric_points: number }; trace_ids: string[] }

export function ImportPage() {
  const [signal, setSignal] = useState("traces");
  const [busy, setBusy] = useState(false);
  const [over, setOver] = useState(false);
  const [result, setResult] = useState<{ name: string; ok?: Imported; error?: string } | null>(null);

  const upload = async (file: File) => {
    setBusy(true);
    setResult(null);
    try {
      const res = await fetch(`api/v1/import?signal=${signal}`, { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
      const body = await res.json().catch(() => null);
      if (!res.ok) setResult({ name: file.name, error: body?.error ?? `${res.status} ${res.statusText}` });
      else setResult({ name: file.name, ok: body as Imported });
    } catch (err) {
      setResult({ name: file.name, error: String(err) });
    } finally {
      setBusy(false);
    }
  };
  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const file = e.dataTransfer?.files?.[0];
    if (file) upload(file);
  };

  return (
    <section>
      <h1>Import</h1>
      <p class="muted">An OTLP file: JSON lines as the <span class="mono">file</span> exporter writes them (traces, metrics and logs
        mixed), one OTLP/JSON request, the exporter's length-prefixed protobuf form or one OTLP/protobuf request. The whole file
        is checked before anything is stored. The store's retention applies: data older than its <span class="mono">max_age</span> goes
        at the next retention check.</p>
      <div class={`dropzone${over ? " over" : ""}`} data-testid="dropzone"
           onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)} onDrop={drop}>
        <div>{busy ? "Importing…" : "Drop a file here, or"}</div>
        <label class="button">Choose a file
          <input type="file" hidden disabled={busy} data-testid="import-file"
                 onChange={(e) => { const f = e.currentTarget.files?.[0]; if (f) upload(f); e.currentTarget.value = ""; }} />
        </label>
        <label class="small muted">Protobuf holds
          <select value={signal} onChange={(e) => setSignal(e.currentTarget.value)}><option>traces</option><option>logs</option><option>metrics</option></select>
        </label>
      </div>
      {result?.error && <ErrorBox error={`${result.name}: ${result.error}`} />}
      {result?.ok && (
        <div class="state" data-testid="import-result">
          <div>Imported <b>{result.name}</b>: {plural(result.ok.requests, "request")}, {fmtNumber(result.ok.imported.spans)} spans,{" "}
            {fmtNumber(result.ok.imported.logs)} log records, {fmtNumber(result.ok.imported.metric_points)} metric points.</div>
          {result.ok.trace_ids.length > 0 && (
            <div class="chips" style={{ justifyContent: "center", marginTop: "8px" }}>
              {result.ok.trace_ids.slice(0, 20).map((t) => <a key={t} class="tag mono" href={href(`/traces/${t}`)} data-testid="imported-trace">{t.slice(0, 16)}…</a>)}
            </div>
          )}
        </div>
      )}
    </section>
  );
}
