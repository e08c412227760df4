// Hash routes (#/, #/services/<name>, #/traces?..., #/traces/<id>, #/logs?..., #/metrics?...):
// the page and its filters live in the URL so every view can be linked, reloaded and shared.
import { useEffect, useState } from "preact/hooks";

export interface Route { parts: string[]; params: URLSearchParams }

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(at < 0 ? "" : raw.slice(at + 1)) };
}

/** The hash for a path and its filters; empty values are dropped so URLs stay short. */
export function href(path: string, params: Record<string, string | string[] | undefined | null> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) if (one) q.append(k, one);
  }
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else location.hash = to.slice(1);
  if (replace) window.dispatchEvent(new HashChangeEvent("hashchange"));
}

/** Same path, some filters changed (undefined/empty removes one); replaces the history entry. */
export function setParams(route: Route, changes: Record<string, string | string[] | undefined>, replace = true): void {
  const next = new URLSearchParams(route.params);
  for (const [k, v] of Object.entries(changes)) {
    next.delete(k);
    for (const one of Array.isArray(v) ? v : [v]) if (one) next.append(k, one);
  }
  const path = "/" + route.parts.map(encodeURIComponent).join("/");
  const s = next.toString();
  navigate(`#${path}${s ? `?${s}` : ""}`, replace);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
