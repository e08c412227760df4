// Service map, live tail and import/export in the browser:
// 1. the map of the emulated fleet shows its services and the python-api -> go-svc -> rust-svc chain
//    and the queue hops with their rates; an edge opens the traces crossing it, a box its service;
// 2. on the traces page with Live on, a span the SDK sends meanwhile appears without a reload; on the
//    logs page, an ERROR record does;
// 3. a trace downloaded from the trace page and imported (file input) into an empty otelflow shows
//    the same waterfall there.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { need, run, screenshot, step, withPage } from "./lib.mjs";

const UI = need("UI_URL");
const EMPTY_UI = need("EMPTY_UI_URL");
const ARTIFACTS = need("ARTIFACTS");
const REQUESTS = Number(need("REQUESTS"));
const FAILING = Number(need("FAILING"));
const RATE = need("RATE"); // the edges' rate as the page formats it, e.g. "24/h"
const TRACE_ID = need("TRACE_ID"); // one request of the fleet, exported and re-imported
const EDGES = JSON.parse(need("EDGES")); // [[parent, child, how], ...]

async function waitForFile(path, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return readFileSync(path, "utf8").trim();
}

/** (service, name, indent, status) of each waterfall row, and the bars' placement. */
async function waterfall(page) {
  await page.getByTestId("waterfall").waitFor();
  return page.$$eval('[data-testid="span-row"]', (rows) => rows.map((r) => {
    const name = r.querySelector(".wf-name");
    const bar = r.querySelector(".wf-bar, [class*=bar]");
    return [r.dataset.service, name?.textContent?.trim(), name?.style.paddingLeft, r.dataset.status,
            bar ? `${bar.style.left}|${bar.style.width}` : ""];
  }));
}

run(() => withPage(async (page) => {
  step("the service map of the fleet");
  await page.goto(`${UI}/#/map?range=15m`);
  await page.getByTestId("service-map").waitFor();
  const services = await page.$$eval('[data-testid="map-node"]', (ns) => ns.map((n) => n.dataset.service).sort());
  assert.deepEqual(services, ["batch-worker", "go-svc", "order-worker", "python-api", "rust-svc"]);
  const edges = await page.$$eval('[data-testid="map-edge"]', (es) => es.map((e) => [e.dataset.parent, e.dataset.child, e.dataset.how]).sort());
  assert.deepEqual(edges, EDGES.slice().sort(), "one arrow per edge");
  for (const [parent, child, how] of EDGES) {
    const sel = `[data-parent="${parent}"][data-child="${child}"][data-how="${how}"]`;
    const label = await page.locator(`[data-testid="map-edge"]${sel} [data-testid="edge-label"]`).textContent();
    assert.ok(label.startsWith(`${RATE} · `), `${parent} -> ${child} is labelled with its rate ${RATE}: ${label}`);
    const row = page.locator(`[data-testid="edge-row"]${sel}`);
    assert.equal(await row.getAttribute("data-calls"), String(REQUESTS), `${parent} -> ${child} calls`);
    assert.equal(await row.getByTestId("edge-rate").textContent(), RATE);
    const queue = await page.locator(`[data-testid="map-edge"]${sel}`).getAttribute("class");
    assert.equal(queue.includes("queue"), child.endsWith("-worker"), `${parent} -> ${child} is ${child.endsWith("-worker") ? "" : "not "}a queue hop`);
  }
  const failing = page.locator('[data-testid="edge-row"][data-parent="go-svc"][data-child="rust-svc"]');
  assert.equal(await failing.getAttribute("data-errors"), String(FAILING));
  assert.match(await failing.innerText(), new RegExp(`${Math.round((FAILING / REQUESTS) * 100)}%`));
  await screenshot(page, "service-map");

  step("an edge opens the traces crossing it");
  await page.locator('[data-testid="map-edge"][data-parent="go-svc"][data-child="rust-svc"] .map-edge-hit').click({ force: true });
  await page.waitForURL((url) => url.hash.startsWith("#/traces") && url.hash.includes("parent_service=go-svc"));
  await page.getByTestId("edge-filter").waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="trace-row"]').length === n, REQUESTS);

  step("a box opens its service");
  await page.goto(`${UI}/#/map?range=15m`);
  await page.locator('[data-testid="map-node"][data-service="rust-svc"]').click();
  await page.waitForURL((url) => url.hash.startsWith("#/services/rust-svc"));

  step("live tail: a span sent while the traces page follows appears without a reload");
  await page.goto(`${UI}/#/traces?service=live-svc&live=1&range=15m`);
  await page.waitForFunction(() => document.querySelector('[data-testid="live-status"]')?.textContent === "following");
  await page.evaluate(() => { window.__sameDocument = true; });
  writeFileSync(join(ARTIFACTS, "live-ready"), "1");
  const liveTrace = await waitForFile(join(ARTIFACTS, "live-sent"));
  await page.locator(`[data-testid="trace-row"][data-trace-id="${liveTrace}"]`).waitFor({ timeout: 20000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  assert.match(await page.getByTestId("live-count").textContent(), /^1 new traces/);
  await screenshot(page, "live-tail");

  step("pause holds new traces back");
  await page.getByTestId("live-pause").click();
  assert.equal(await page.getByTestId("live-status").textContent(), "paused");
  await page.getByTestId("live-pause").click();

  step("live tail on the logs page, filtered by severity");
  await page.goto(`${UI}/#/logs?service=live-svc&severity=ERROR&live=1&range=15m`);
  await page.waitForFunction(() => document.querySelector('[data-testid="live-status"]')?.textContent === "following");
  writeFileSync(join(ARTIFACTS, "live-logs-ready"), "1");
  const liveLog = await waitForFile(join(ARTIFACTS, "live-logs-sent"));
  await page.locator('[data-testid="log-row"]', { hasText: liveLog }).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('[data-testid="log-row"]').count(), 1, "only the new ERROR record of live-svc");
  await screenshot(page, "live-logs");

  step("download a trace from its page");
  await page.goto(`${UI}/#/traces/${TRACE_ID}`);
  const before = await waterfall(page);
  assert.equal(before.length, 7, "the fleet's request has 7 spans in its trace");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-trace").click()]);
  const file = join(ARTIFACTS, `trace-${TRACE_ID}.jsonl`);
  await download.saveAs(file);
  assert.ok(readFileSync(file, "utf8").startsWith('{"resourceSpans":'), "the download is OTLP/JSON lines");

  step("import it into an empty otelflow and compare the waterfall");
  assert.equal((await fetch(`${EMPTY_UI}/api/v1/traces/${TRACE_ID}`)).status, 404, "the other otelflow starts without the trace");
  await page.goto(`${EMPTY_UI}/#/import`);
  await page.getByTestId("import-file").setInputFiles(file);
  await page.getByTestId("import-result").waitFor();
  assert.match(await page.getByTestId("import-result").innerText(), /7 spans/);
  await page.locator(`[data-testid="imported-trace"]`).first().click();
  await page.waitForURL((url) => url.hash.startsWith(`#/traces/${TRACE_ID}`));
  const after = await waterfall(page);
  assert.deepEqual(after, before, "the same waterfall after export and import");
  await screenshot(page, "imported-waterfall");
}));
