// From an ERROR log to its trace and its service's RED charts, as a person would click through:
// #/logs -> the log row -> #/traces/<trace id> (every span drawn, the log's span selected) ->
// Services -> the service -> rate and errors charts that count the request and the error.
import assert from "node:assert/strict";
import { need, run, screenshot, step, withPage } from "./lib.mjs";

const UI = need("UI_URL");
const LOG_TEXT = need("LOG_TEXT");
const TRACE_ID = need("TRACE_ID");
const SPAN_ID = need("SPAN_ID");
const SPAN_COUNT = Number(need("SPAN_COUNT"));
const SERVICE = need("SERVICE");
const REQUESTS = Number(need("REQUESTS"));
const ERRORS = Number(need("ERRORS"));

run(() => withPage(async (page) => {
  step(`open ${UI}/#/logs`);
  await page.goto(`${UI}/#/logs`);
  const row = page.getByTestId("log-row").filter({ hasText: LOG_TEXT });
  await row.first().waitFor();
  assert.equal(await row.count(), 1, `one log row should read "${LOG_TEXT}"`);
  assert.equal(await row.getAttribute("data-trace-id"), TRACE_ID, "the row carries the log's trace ID");
  assert.ok(Number(await row.getAttribute("data-severity")) >= 17, "the log is an ERROR (severity number 17+)");
  assert.match(await row.locator(".sev").innerText(), /ERROR/);
  await screenshot(page, "logs");

  step("click the ERROR log");
  await row.locator("td.body").click();
  await page.waitForURL((url) => url.hash.startsWith(`#/traces/${TRACE_ID}`));
  const hash = new URL(page.url()).hash;
  assert.equal(hash.split("?")[0], `#/traces/${TRACE_ID}`, "the log opens its trace");

  const view = page.getByTestId("trace-view");
  await view.waitFor();
  assert.equal(await view.getAttribute("data-trace-id"), TRACE_ID);
  const spans = page.getByTestId("span-row");
  assert.equal(await spans.count(), SPAN_COUNT, `the waterfall draws all ${SPAN_COUNT} spans`);
  const selected = page.locator(`[data-testid="span-row"].selected`);
  assert.equal(await selected.getAttribute("data-span-id"), SPAN_ID, "the log's span is selected");
  await page.getByTestId("span-details").waitFor();
  const errorRows = page.locator(`[data-testid="span-row"][data-status="error"]`);
  assert.ok(await errorRows.count() >= 1, "the failed span is marked as an error");
  const traceLog = page.getByTestId("trace-log-row").filter({ hasText: LOG_TEXT });
  assert.equal(await traceLog.count(), 1, "the trace's logs list the ERROR log");
  await screenshot(page, "waterfall");

  step(`go to Services, then ${SERVICE}`);
  await page.getByTestId("nav-services").click();
  await page.locator(`[data-testid="service-row"][data-service="${SERVICE}"] a`).click();
  await page.waitForURL((url) => url.hash.startsWith(`#/services/${encodeURIComponent(SERVICE)}`));
  const rate = page.locator(`[data-testid="red-chart-rate"][data-state="ready"]`);
  const errors = page.locator(`[data-testid="red-chart-errors"][data-state="ready"]`);
  await rate.waitFor();
  await errors.waitFor();
  assert.equal(Number(await rate.getAttribute("data-total")), REQUESTS, `the rate chart counts ${REQUESTS} requests`);
  assert.equal(Number(await errors.getAttribute("data-total")), ERRORS, `the errors chart counts ${ERRORS} errors`);
  assert.ok(REQUESTS >= 1 && ERRORS >= 1);
  assert.ok(await rate.locator("rect.bar").count() >= 1, "the rate chart draws a bar for the requests");
  assert.ok(await errors.locator("rect.bar").count() >= 1, "the errors chart draws a bar for the error");
  await page.locator(`[data-testid="red-chart-duration"][data-state="ready"]`).waitFor();
  assert.ok(await page.getByTestId("operation-row").count() >= 1, "the service's operations are listed");
  await screenshot(page, "red");
}));
