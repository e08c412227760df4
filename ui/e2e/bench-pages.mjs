// How long each UI page takes to show its data, in headless Chromium (driven by bench/ui_pages.py).
// Per page: a cold load in a fresh browser context (empty cache), warm loads (the same URL opened
// again in that context) and in-app navigations (a hash change from a page with no data, as a click
// in the nav does). "Shown" is the first animation frame in which the page's ready marker is in the
// DOM; the API's share comes from the Resource Timing entries of /api/v1/ requests.
import { writeFile } from "node:fs/promises";
import { chromium } from "playwright-core";
import { need, step } from "./lib.mjs";

const UI = need("UI_URL");
const SERVICE = need("SERVICE");
const TRACE_ID = need("TRACE_ID");
const METRIC = need("METRIC");
const OUT = need("OUT");
const ROUNDS = Number(process.env.ROUNDS || 5);
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 30000);
const svc = encodeURIComponent(SERVICE);

// Each ready check runs in the page: true when the data is shown, a string when the page shows an
// error or an empty state instead (this store always has data, so that is a failure).
const PAGES = [
  { name: "services", hash: "#/", ready: () => {
    const rows = [...document.querySelectorAll('[data-testid="service-row"]')];
    // every row's RED totals have arrived (a cell shows "…" until its /red call answers)
    return rows.length > 0 && rows.every((r) => ![...r.cells].some((c) => c.textContent === "…"));
  } },
  { name: "service RED", hash: `#/services/${svc}`, ready: () =>
    ["rate", "errors", "duration"].every((c) => document.querySelector(`[data-testid="red-chart-${c}"][data-state="ready"]`))
    && !!document.querySelector('[data-testid="operation-row"]') },
  { name: "trace search", hash: `#/traces?service=${svc}`, ready: () => !!document.querySelector('[data-testid="trace-row"]') },
  { name: "trace search errors", hash: `#/traces?service=${svc}&status=error`, ready: () => {
    const rows = [...document.querySelectorAll('[data-testid="trace-row"]')];
    if (rows.some((r) => Number(r.dataset.errors) === 0)) return "a trace without errors is listed";
    return rows.length > 0;
  } },
  { name: "trace waterfall", hash: `#/traces/${TRACE_ID}`, ready: () => {
    const view = document.querySelector('[data-testid="trace-view"]');
    return !!view && document.querySelectorAll('[data-testid="span-row"]').length === Number(view.dataset.spanCount);
  } },
  { name: "logs", hash: "#/logs", ready: () => !!document.querySelector('[data-testid="log-row"]') },
  { name: "logs ERROR", hash: "#/logs?severity=ERROR", ready: () => {
    const rows = [...document.querySelectorAll('[data-testid="log-row"]')];
    if (rows.some((r) => Number(r.dataset.severity) < 17)) return "a record below ERROR is listed";
    return rows.length > 0;
  } },
  { name: "metrics", hash: `#/metrics?name=${encodeURIComponent(METRIC)}`, ready: () => {
    const chart = document.querySelector('[data-testid="metric-chart"]');
    return !!chart && Number(chart.dataset.points) > 0 && !!document.querySelector('[data-testid="metric-item"]');
  } },
];

/** Waits for the page's data; returns performance.now() at that frame and the API calls so far. */
async function shown(page, check) {
  const handle = await page.waitForFunction((src) => {
    const failed = document.querySelector('[data-testid="error"], [data-testid="empty"]');
    if (failed) return { failed: failed.textContent };
    const r = (0, eval)(`(${src})`)();
    if (typeof r === "string") return { failed: r };
    return r ? { at: performance.now() } : false;
  }, check.toString(), { polling: "raf", timeout: TIMEOUT_MS });
  const got = await handle.jsonValue();
  if (got.failed) throw new Error(`the page shows "${got.failed}" instead of its data`);
  return got.at;
}

/** The /api/v1/ requests since `since` (ms on the page's clock): slowest, and when the last ended. */
async function apiCalls(page, since) {
  return page.evaluate((since) => performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/v1/") && e.startTime >= since)
    .map((e) => ({ path: new URL(e.name).pathname.replace("/api/v1/", ""), start: e.startTime, end: e.responseEnd,
                   server: e.responseStart - e.requestStart })), since);
}

function summarize(at, since, calls) {
  const slowest = calls.reduce((a, c) => (!a || c.end - c.start > a.end - a.start ? c : a), null);
  const lastEnd = Math.max(since, ...calls.map((c) => c.end));
  return {
    ms: at - since, api_calls: calls.length,
    first_api_ms: calls.length ? Math.min(...calls.map((c) => c.start)) - since : null, // the app's code is running
    slowest_api: slowest && { path: slowest.path, ms: slowest.end - slowest.start, server_ms: slowest.server },
    api_done_ms: lastEnd - since, // from the start to the last API answer
    render_ms: at - lastEnd, // from the last API answer to the data on screen
  };
}

async function load(page, url, check) {
  await page.goto(url, { waitUntil: "commit" });
  const at = await shown(page, check);
  return summarize(at, 0, await apiCalls(page, 0));
}

async function navigate(page, hash, check) {
  await page.evaluate(() => { location.hash = "#/bench-idle"; });
  await page.waitForFunction(() => document.querySelector(".content")?.textContent.includes("No page at"));
  const since = await page.evaluate((h) => {
    performance.clearResourceTimings();
    const t0 = performance.now();
    location.hash = h;
    return t0;
  }, hash);
  const at = await shown(page, check);
  return summarize(at, since, await apiCalls(page, since));
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const results = [];
  try {
    for (const p of PAGES) {
      const url = `${UI}/${p.hash}`;
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light" });
      context.setDefaultTimeout(TIMEOUT_MS);
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (err) => errors.push(String(err)));
      page.on("console", (msg) => { if (msg.type() === "error") errors.push(`console: ${msg.text()}`); });
      try {
        const cold = await load(page, url, p.ready);
        const warm = [];
        for (let i = 0; i < ROUNDS; i++) {
          await page.goto("about:blank");
          warm.push(await load(page, url, p.ready));
        }
        const nav = [];
        for (let i = 0; i < ROUNDS; i++) nav.push(await navigate(page, p.hash, p.ready));
        if (errors.length) throw new Error(errors.join("\n"));
        results.push({ page: p.name, hash: p.hash, cold, warm, nav });
        step(`${p.name}: cold ${cold.ms.toFixed(0)} ms, warm ${warm.map((w) => w.ms.toFixed(0)).join(" ")} ms`);
      } catch (err) {
        results.push({ page: p.name, hash: p.hash, error: String(err?.message || err).split("\n")[0] });
        step(`${p.name}: FAILED ${err?.message || err}`);
      } finally {
        await context.close();
      }
    }
    results.push({ chromium: browser.version() });
  } finally {
    await browser.close();
  }
  await writeFile(OUT, JSON.stringify(results, null, 1));
}

main().catch((err) => { console.error(`bench FAILED: ${err?.stack || err}`); process.exit(1); });
