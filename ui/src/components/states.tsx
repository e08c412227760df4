// Loading, empty and error states, shared so every view says the same thing the same way.
import type { ComponentChildren } from "preact";

export function Loading({ what = "Loading" }: { what?: string }) {
  return <div class="state state-loading" data-testid="loading"><span class="spinner" />{what}…</div>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="state state-empty" data-testid="empty">{children}</div>;
}

export function ErrorBox({ error }: { error: string }) {
  return <div class="state state-error" role="alert" data-testid="error">{error}</div>;
}

/** Shows the error, else a spinner while nothing is loaded yet, else the children. */
export function Status<T>(props: { error: string | null; loading: boolean; data: T | null; children: (data: T) => ComponentChildren; what?: string }) {
  if (props.error) return <ErrorBox error={props.error} />;
  if (props.data === null) return props.loading ? <Loading what={props.what} /> : null;
  return <>{props.children(props.data)}</>;
}
