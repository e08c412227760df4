// Entry point: the shell (top nav, time range, refresh, theme) and the page the hash route names.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./app.css";
import { href, setParams, useRoute, type Route } from "./route";
import { RANGES, WindowContext, rememberRange, storedRange, useWindow } from "./state";
import { ServicesPage } from "./pages/services";
import { ServicePage } from "./pages/service";
import { TracesPage } from "./pages/traces";
import { TracePage } from "./pages/trace";
import { LogsPage } from "./pages/logs";
import { MetricsPage } from "./pages/metrics";
import { DoctorPage } from "./pages/doctor";
import { SamplingPage } from "./pages/sampling";
import { MapPage } from "./pages/map";
import { ImportPage } from "./pages/import";

const NAV = [
  { id: "services", label: "Services", path: "/" },
  { id: "map", label: "Map", path: "/map" },
  { id: "traces", label: "Traces", path: "/traces" },
  { id: "logs", label: "Logs", path: "/logs" },
  { id: "metrics", label: "Metrics", path: "/metrics" },
  { id: "doctor", label: "Doctor", path: "/doctor" },
  { id: "sampling", label: "Sampling", path: "/sampling" },
];

function section(route: Route): string {
  const first = route.parts[0];
  return !first || first === "services" ? "services" : first;
}

function Page({ route }: { route: Route }) {
  const [first, second] = route.parts;
  if (!first) return <ServicesPage />;
  if (first === "services" && second) return <ServicePage route={route} service={second} />;
  if (first === "services") return <ServicesPage />;
  if (first === "traces" && second) return <TracePage route={route} traceId={second.toLowerCase()} />;
  if (first === "traces") return <TracesPage route={route} />;
  if (first === "logs") return <LogsPage route={route} />;
  if (first === "metrics") return <MetricsPage route={route} />;
  if (first === "doctor") return <DoctorPage />;
  if (first === "sampling") return <SamplingPage />;
  if (first === "map") return <MapPage />;
  if (first === "import") return <ImportPage />;
  return <div class="state state-error">No page at “#/{route.parts.join("/")}”. <a href="#/">Go to services</a></div>;
}

type Theme = "auto" | "light" | "dark";

function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("otelflow.theme") as Theme) || "auto");
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("otelflow.theme", theme);
  }, [theme]);
  const next = () => setTheme(theme === "auto" ? "dark" : theme === "dark" ? "light" : "auto");
  return [theme, next];
}

function App() {
  const route = useRoute();
  const fromUrl = route.params.get("range");
  const range = fromUrl && fromUrl in RANGES ? fromUrl : storedRange();
  const [tick, setTick] = useState(0);
  const window_ = useWindow(range, tick);
  const [theme, nextTheme] = useTheme();
  const current = section(route);
  const pickRange = (r: string) => { rememberRange(r); setParams(route, { range: r }); };
  const isTrace = route.parts[0] === "traces" && route.parts.length > 1;

  return (
    <WindowContext.Provider value={window_}>
      <header class="topbar">
        <a class="brand" href="#/">otelflow</a>
        <nav class="nav">
          {NAV.map((n) => (
            <a key={n.id} href={href(n.path)} class={current === n.id ? "active" : ""} data-testid={`nav-${n.id}`}>{n.label}</a>
          ))}
        </nav>
        <div class="spacer" />
        <div class={`ranges${isTrace ? " ranges-idle" : ""}`} role="group" aria-label="Time range" data-testid="range-picker"
             title={isTrace ? "A trace is shown whole, whatever the range" : "Time range, ending now"}>
          {Object.keys(RANGES).map((r) => (
            <button key={r} type="button" class={r === range ? "active" : ""} onClick={() => pickRange(r)} data-testid={`range-${r}`}>{r}</button>
          ))}
        </div>
        <button type="button" class="icon-button" title="Refresh (re-query up to now)" onClick={() => setTick(tick + 1)} data-testid="refresh">⟳</button>
        <button type="button" class="icon-button" title={`Theme: ${theme}`} onClick={nextTheme}>{theme === "dark" ? "☾" : theme === "light" ? "☀" : "◐"}</button>
      </header>
      <main class="content"><Page route={route} /></main>
    </WindowContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
