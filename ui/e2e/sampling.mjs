// Sampling what-if page: it replays the store with the seed's policies on load; the test's YAML gives
// the kept fraction the API computed; editing the probabilistic percentage changes the fraction to the
// API's second figure; a broken YAML shows the server's error. Then the Services page shows the error
// spans of a service that has no entry spans.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { need, run, screenshot, step, withPage } from "./lib.mjs";

const UI = need("UI_URL");
const YAML_BEFORE = need("YAML_BEFORE");
const PCT_BEFORE = need("PCT_BEFORE");
const PCT_AFTER = need("PCT_AFTER");
const FROM = need("EDIT_FROM");
const TO = need("EDIT_TO");
const NO_ENTRY_SERVICE = need("NO_ENTRY_SERVICE");
const ERROR_SPANS = need("ERROR_SPANS");

async function keptPct(page, want) {
  const cell = page.getByTestId("kept-traces-pct").first();
  await page.waitForFunction((w) => document.querySelector('[data-testid="kept-traces-pct"]')?.textContent === w, want);
  return cell.textContent();
}

run(() => withPage(async (page) => {
  step(`open ${UI}/#/sampling`);
  await page.goto(`${UI}/#/sampling`);
  await page.getByTestId("nav-sampling").waitFor();
  assert.equal(await page.getByTestId("nav-sampling").getAttribute("class"), "active");
  await page.getByTestId("what-if-report").first().waitFor();
  step("the default (seed) policies ran on load");
  assert.match(await page.getByTestId("what-if-policies").innerText(), /probably/);

  step("the test's policies");
  await page.getByTestId("policies").fill(YAML_BEFORE);
  await page.getByTestId("run").click();
  assert.equal(await keptPct(page, PCT_BEFORE), PCT_BEFORE);
  assert.match(await page.getByTestId("cost").innerText(), /of today's volume/);
  const services = await page.getByTestId("what-if-services").innerText();
  for (const s of ["frontend", "checkout", "payments"]) assert.ok(services.includes(s), `service ${s} in the report`);
  assert.ok((await page.getByTestId("what-if-routes").innerText()).includes("healthz"), "the route rule has its row");
  await screenshot(page, "sampling-before");

  step(`edit: ${FROM} -> ${TO}`);
  const edited = YAML_BEFORE.replace(FROM, TO);
  assert.notEqual(edited, YAML_BEFORE);
  await page.getByTestId("policies").fill(edited);
  await page.getByTestId("policies").press("Control+Enter");
  assert.equal(await keptPct(page, PCT_AFTER), PCT_AFTER);
  assert.ok(parseFloat(PCT_AFTER) > parseFloat(PCT_BEFORE), "a higher percentage keeps more");
  await screenshot(page, "sampling-after");

  step(`Services page: ${NO_ENTRY_SERVICE} has only internal spans; its ${ERROR_SPANS} error spans show`);
  await page.goto(`${UI}/#/`);
  const cell = page.locator(`[data-testid="service-row"][data-service="${NO_ENTRY_SERVICE}"] [data-testid="service-errors"]`);
  await page.waitForFunction((sel) => { const t = document.querySelector(sel)?.textContent; return t && t !== "…"; },
    `[data-testid="service-row"][data-service="${NO_ENTRY_SERVICE}"] [data-testid="service-errors"]`);
  const text = await cell.innerText();
  assert.ok(text.startsWith(ERROR_SPANS) && text.includes("spans"), `errors cell says "${text}"`);
  await screenshot(page, "services-error-spans");
}).then(brokenPolicy));

/** A broken policy shows the server's error (its own browser: the 400 is expected, other errors are not). */
async function brokenPolicy() {
  step("a broken policy shows the server's error");
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (err) => errors.push(String(err)));
    page.on("console", (msg) => { if (msg.type() === "error" && !msg.text().includes("status of 400")) errors.push(msg.text()); });
    await page.goto(`${UI}/#/sampling`);
    await page.getByTestId("what-if-report").first().waitFor({ timeout: 15000 });
    await page.getByTestId("policies").fill("policies:\n  - {name: x, type: no_such_type}\n");
    await page.getByTestId("run").click();
    await page.getByTestId("error").waitFor({ timeout: 15000 });
    assert.match(await page.getByTestId("error").innerText(), /unknown sampling policy type no_such_type/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
}
