// Live tail: follows /api/v1/tail/<signal> (server-sent events) with the page's filters, keeping a
// bounded buffer of the newest items. Paused, new items wait in a bounded queue shown as a count;
// what the server or the buffers had to drop is counted and shown, never silently lost.
import { useEffect, useRef, useState } from "preact/hooks";
import { query, type Params } from "../api";

export const LIVE_BUFFER = 500;

export interface Live<T> {
  items: T[]; // newest first, at most LIVE_BUFFER
  waiting: number; // arrived while paused
  dropped: number; // rows the server dropped (slow page) plus items pushed out of the buffers
  connected: boolean;
  paused: boolean;
  togglePause: () => void;
  clear: () => void;
}

/** ``merge(current, incoming)`` returns the new newest-first list (e.g. replacing items by key). */
export function useLive<T>(signal: "traces" | "logs", params: Params, enabled: boolean, merge: (current: T[], incoming: T[]) => T[]): Live<T> {
  const [items, setItems] = useState<T[]>([]);
  const [waiting, setWaiting] = useState<T[]>([]);
  const [dropped, setDropped] = useState(0);
  const [connected, setConnected] = useState(false);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  const key = JSON.stringify(params);

  const add = (incoming: T[]) => {
    const apply = (cur: T[]) => {
      const next = merge(cur, incoming);
      if (next.length > LIVE_BUFFER) setDropped((d) => d + next.length - LIVE_BUFFER);
      return next.slice(0, LIVE_BUFFER);
    };
    if (pausedRef.current) setWaiting(apply);
    else setItems(apply);
  };

  useEffect(() => {
    setItems([]); setWaiting([]); setDropped(0);
    if (!enabled) { setConnected(false); return; }
    const source = new EventSource(`api/v1/tail/${signal}${query(params)}`);
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false); // EventSource reconnects by itself
    source.addEventListener(signal, (e) => {
      const data = JSON.parse((e as MessageEvent).data);
      if (data.dropped) setDropped((d) => d + data.dropped);
      add(data[signal] as T[]);
    });
    source.addEventListener("dropped", (e) => setDropped((d) => d + JSON.parse((e as MessageEvent).data).dropped));
    return () => { source.close(); setConnected(false); };
  }, [signal, key, enabled]);

  const togglePause = () => {
    if (paused) {
      const queued = waiting;
      setWaiting([]);
      setItems((cur) => merge(cur, queued).slice(0, LIVE_BUFFER));
    }
    setPaused(!paused);
  };
  return { items, waiting: waiting.length, dropped, connected, paused, togglePause, clear: () => { setItems([]); setWaiting([]); setDropped(0); } };
}

/** The live switch, pause button and counters shown above a result list. */
export function LiveBar<T>({ live, on, setOn, what }: { live: Live<T>; on: boolean; setOn: (v: boolean) => void; what: string }) {
  return (
    <div class="live-bar" data-testid="live-bar">
      <label class="check"><input type="checkbox" checked={on} onChange={(e) => setOn(e.currentTarget.checked)} data-testid="live-toggle" /> Live</label>
      {on && <>
        <span class={`live-dot${live.connected && !live.paused ? " on" : ""}`} data-testid="live-status"
              title={live.connected ? "connected" : "connecting…"}>{live.paused ? "paused" : live.connected ? "following" : "connecting…"}</span>
        <button type="button" onClick={live.togglePause} data-testid="live-pause">{live.paused ? `Resume${live.waiting ? ` (${live.waiting} new)` : ""}` : "Pause"}</button>
        <span class="muted small" data-testid="live-count">{live.items.length} new {what} (keeps the newest {LIVE_BUFFER})</span>
        {live.dropped > 0 && <span class="badge err" data-testid="live-dropped" title="The page fell behind, or more arrived than it keeps">{live.dropped} dropped</span>}
      </>}
    </div>
  );
}
