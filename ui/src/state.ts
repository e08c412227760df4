// Shared view state: the time range (from the URL's `range`, else the last one picked) and a refresh
// counter; both feed every API call so one click re-queries the whole page.
import { createContext } from "preact";
import { useContext, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, get, type Params } from "./api";

export const RANGES: Record<string, number> = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
export const DEFAULT_RANGE = "1h";
const STORED = "otelflow.range";

export function storedRange(): string {
  try {
    const r = localStorage.getItem(STORED);
    if (r && r in RANGES) return r;
  } catch { /* storage may be unavailable */ }
  return DEFAULT_RANGE;
}

export function rememberRange(r: string): void {
  try { localStorage.setItem(STORED, r); } catch { /* ignore */ }
}

export interface Window { range: string; startUs: number; endUs: number; tick: number }
export const WindowContext = createContext<Window>({ range: DEFAULT_RANGE, startUs: 0, endUs: 0, tick: 0 });

/** The window [now - range, now], fixed until the range or the refresh counter changes. */
export function useWindow(range: string, tick: number): Window {
  return useMemo(() => {
    const endUs = Date.now() * 1000;
    return { range, startUs: endUs - RANGES[range] * 1e6, endUs, tick };
  }, [range, tick]);
}

export const useTimeWindow = () => useContext(WindowContext);

export interface Loaded<T> { data: T | null; error: string | null; loading: boolean; status: number }

/** Fetches an API path whenever its key (path + params) changes; aborts the previous request. */
export function useApi<T>(path: string | null, params: Params = {}, tick = 0): Loaded<T> {
  const key = path === null ? null : JSON.stringify([path, params, tick]);
  const [state, setState] = useState<Loaded<T>>({ data: null, error: null, loading: path !== null, status: 0 });
  const keep = useRef<T | null>(null);
  useEffect(() => {
    if (path === null) { setState({ data: null, error: null, loading: false, status: 0 }); return; }
    const ctrl = new AbortController();
    setState({ data: keep.current, error: null, loading: true, status: 0 });
    get<T>(path, params, ctrl.signal).then(
      (data) => { keep.current = data; setState({ data, error: null, loading: false, status: 200 }); },
      (err) => {
        if (ctrl.signal.aborted) return;
        keep.current = null;
        const status = err instanceof ApiError ? err.status : 0;
        setState({ data: null, error: err instanceof Error ? err.message : String(err), loading: false, status });
      },
    );
    return () => ctrl.abort();
  }, [key]);
  return state;
}
