// The Doctor page lists what the SDK did wrong, by service: each expected finding (rule + key) shows
// under its service with what/why/fix, the healthy services are listed as such, and a service's name
// leads to its service page.
import assert from "node:assert/strict";
import { need, run, screenshot, step, withPage } from "./lib.mjs";

const UI = need("UI_URL");
const EXPECTED = JSON.parse(need("EXPECTED")); // service -> [[rule, key], ...]; [] for a healthy service

run(() => withPage(async (page) => {
  step(`open ${UI}/ and follow the Doctor nav entry`);
  await page.goto(`${UI}/`);
  await page.getByTestId("nav-doctor").click();
  await page.waitForURL((url) => url.hash.startsWith("#/doctor"));
  await page.getByTestId("doctor-summary").waitFor();

  const flagged = Object.entries(EXPECTED).filter(([, want]) => want.length > 0);
  const healthy = Object.entries(EXPECTED).filter(([, want]) => want.length === 0).map(([s]) => s);
  const sections = page.getByTestId("doctor-service");
  assert.equal(await sections.count(), flagged.length, `one section per service with findings (${flagged.length})`);

  for (const [service, want] of flagged) {
    step(`${service}: ${want.map(([r, k]) => `${r}${k ? ` (${k})` : ""}`).join(", ")}`);
    const section = page.locator(`[data-testid="doctor-service"][data-service="${service}"]`);
    assert.equal(await section.count(), 1, `a section for ${service}`);
    const cards = section.getByTestId("doctor-finding");
    assert.equal(await cards.count(), want.length, `${service} has exactly its ${want.length} finding(s)`);
    for (const [rule, key] of want) {
      const card = section.locator(`[data-testid="doctor-finding"][data-rule="${rule}"]`);
      assert.equal(await card.count(), 1, `${service} shows ${rule}`);
      assert.equal(await card.getAttribute("data-key"), key, `${service}'s ${rule} names the key ${key}`);
      const text = await card.innerText();
      for (const part of ["What", "Why", "Fix"]) assert.match(text, new RegExp(part, "i"), `${rule} says ${part}`);
      if (key) assert.ok(text.includes(key), `the card shows the key ${key}`);
      assert.ok((await card.getByTestId("doctor-what").innerText()).includes(service) || rule === "missing_resource_attribute",
        `the finding's text names ${service}`);
    }
  }
  const bomb = page.locator(`[data-testid="doctor-finding"][data-rule="metric_cardinality"]`);
  if (await bomb.count()) assert.equal(await bomb.first().getAttribute("data-severity"), "error");

  const healthyLine = await page.getByTestId("doctor-healthy").innerText();
  for (const s of healthy) assert.ok(healthyLine.includes(s), `${s} is listed without findings`);
  await screenshot(page, "doctor");

  const [first] = flagged[0];
  step(`click ${first} and land on its service page`);
  await page.locator(`[data-testid="doctor-service"][data-service="${first}"] [data-testid="doctor-service-link"]`).click();
  await page.waitForURL((url) => url.hash.startsWith(`#/services/${encodeURIComponent(first)}`));
}));
