// Trace search by service and status=error finds the failed request and only failed traces; the
// metrics view charts a metric the SDK sent (one series per label value), and a label filter narrows
// it to the matching series.
import assert from "node:assert/strict";
import { need, run, screenshot, step, withPage } from "./lib.mjs";

const UI = need("UI_URL");
const SERVICE = need("SERVICE");
const ERROR_TRACE_ID = need("TRACE_ID");
const OK_TRACE_ID = need("OK_TRACE_ID");
const METRIC = need("METRIC");
const LABEL_KEY = need("LABEL_KEY");
const LABEL_VALUE = need("LABEL_VALUE");

run(() => withPage(async (page) => {
  step(`open ${UI}/#/traces`);
  await page.goto(`${UI}/#/traces`);
  const rows = page.getByTestId("trace-row");
  await rows.first().waitFor();
  const all = await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-trace-id")));
  assert.ok(all.includes(ERROR_TRACE_ID) && all.includes(OK_TRACE_ID), "unfiltered search lists both requests");

  step(`search service=${SERVICE} status=error`);
  await page.getByTestId("filter-service").selectOption(SERVICE);
  await page.getByTestId("filter-status").selectOption("error");
  await page.getByTestId("search").click();
  await page.waitForURL((url) => url.hash.includes("status=error") && url.hash.includes(`service=${encodeURIComponent(SERVICE)}`));
  await page.waitForFunction(
    (ok) => !document.querySelector(`[data-testid="trace-row"][data-trace-id="${ok}"]`) && document.querySelector('[data-testid="trace-row"]'),
    OK_TRACE_ID,
  );
  const found = await rows.evaluateAll((els) => els.map((e) => [e.getAttribute("data-trace-id"), Number(e.getAttribute("data-errors"))]));
  assert.ok(found.some(([id]) => id === ERROR_TRACE_ID), "the failed request's trace is found");
  assert.ok(found.every(([, errors]) => errors > 0), "every trace found has an error");
  assert.ok(!found.some(([id]) => id === OK_TRACE_ID), "the successful request is not found");
  await page.getByTestId("trace-scatter").waitFor();
  await screenshot(page, "trace-search");

  step("open the found trace");
  await page.locator(`[data-testid="trace-row"][data-trace-id="${ERROR_TRACE_ID}"]`).click();
  await page.waitForURL((url) => url.hash.startsWith(`#/traces/${ERROR_TRACE_ID}`));
  await page.getByTestId("trace-view").waitFor();

  step(`chart ${METRIC} in the metrics view`);
  await page.getByTestId("nav-metrics").click();
  await page.locator(`[data-testid="metric-item"][data-metric="${METRIC}"]`).click();
  const chart = page.locator(`[data-testid="metric-chart"][data-name="${METRIC}"]`);
  await chart.waitFor();
  assert.ok(Number(await chart.getAttribute("data-series")) >= 1, "the chart has a series");
  assert.ok(Number(await chart.getAttribute("data-points")) >= 1, "the chart has points");
  assert.ok(await chart.locator("svg circle, svg polyline").count() >= 1, "the chart draws the points");
  assert.ok(await page.getByTestId("series-row").count() >= 2, `one series per ${LABEL_KEY} value`);

  step(`filter ${LABEL_KEY}=${LABEL_VALUE}`);
  await page.getByTestId("label-key").selectOption(LABEL_KEY);
  await page.getByTestId("label-value").fill(LABEL_VALUE);
  await page.getByRole("button", { name: "Add filter" }).click();
  await page.waitForURL((url) => url.hash.includes("label="));
  await page.waitForFunction(([key, value]) => {
    const rows = [...document.querySelectorAll('[data-testid="series-row"]')];
    return rows.length >= 1 && rows.every((r) => JSON.parse(r.getAttribute("data-labels"))[key] === value);
  }, [LABEL_KEY, LABEL_VALUE]);
  assert.ok(Number(await chart.getAttribute("data-points")) >= 1, "the filtered chart has points");
  await screenshot(page, "metrics");

  step("a label value that matches nothing shows the empty state");
  await page.getByTestId("label-key").selectOption(LABEL_KEY);
  await page.getByTestId("label-value").fill("no-such-value");
  await page.getByRole("button", { name: "Add filter" }).click();
  await page.getByTestId("empty").waitFor();
}));
