// The UI bound beyond loopback asks for its token: without it the page (and the API, asked from the
// same browser) is refused with a login prompt and no data; the login URL printed at start sets an
// HttpOnly cookie and lands on the services page; the prompt's form takes a pasted token too.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { need, run, screenshot, step } from "./lib.mjs";

const UI = need("UI_URL");
const LOGIN_URL = need("LOGIN_URL");
const TOKEN = need("TOKEN");
const SERVICE = need("SERVICE");
const REFUSAL = "log in with the URL printed at start";

/** A fresh browser context (no cookies); a 401 the test asks for is the only console error allowed. */
async function withContext(browser, fn) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light" });
  context.setDefaultTimeout(Number(process.env.STEP_TIMEOUT_MS || 15000));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/status of 401/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  try {
    await fn(page, context);
    if (errors.length) throw new Error(`the page reported errors:\n${errors.join("\n")}`);
  } finally {
    await context.close();
  }
}

async function expectRefused(page, path) {
  const resp = await page.goto(`${UI}${path}`);
  assert.equal(resp.status(), 401, `${path} without the token answers 401`);
  const text = await page.locator("body").innerText();
  assert.ok(text.includes(REFUSAL), `${path} says to ${REFUSAL}`);
  assert.ok(!text.includes(SERVICE), `${path} shows no data`);
  assert.equal(await page.getByTestId("services-table").count(), 0, "no services table");
}

async function expectServicesPage(page) {
  await page.waitForURL((url) => url.pathname === "/" && !url.search.includes("t="));
  await page.locator(`[data-testid="service-row"][data-service="${SERVICE}"]`).waitFor();
}

run(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    await withContext(browser, async (page, context) => {
      step(`open ${UI}/ without the token: refused`);
      await expectRefused(page, "/");
      await screenshot(page, "auth-refused");
      await expectRefused(page, "/assets/app.js");
      step("the API from the same browser: 401, no data");
      for (const path of ["/api/v1/services", "/api/v1/traces", "/jaeger/api/services"]) {
        const api = await page.request.get(`${UI}${path}`);
        assert.equal(api.status(), 401, `${path} answers 401`);
        assert.ok(!(await api.text()).includes(SERVICE), `${path} leaks no data`);
      }
      step("a wrong token in the login URL: refused, no cookie");
      await expectRefused(page, `/login?t=${encodeURIComponent(TOKEN.slice(0, -1))}x`);
      assert.equal((await context.cookies()).length, 0, "no cookie after a wrong token");

      step("open the login URL printed at start: the services page");
      await page.goto(LOGIN_URL);
      await expectServicesPage(page);
      await screenshot(page, "auth-services");
      const cookies = await context.cookies();
      assert.equal(cookies.length, 1, "one session cookie");
      const [cookie] = cookies;
      assert.ok(cookie.httpOnly, "the cookie is HttpOnly");
      assert.equal(cookie.sameSite, "Strict", "the cookie is SameSite=Strict");
      assert.ok(!cookie.value.includes(TOKEN), "the cookie does not hold the token");
      assert.ok(!(await page.evaluate(() => document.cookie)).includes(cookie.name), "scripts cannot read it");
      const api = await page.request.get(`${UI}/api/v1/services`);
      assert.equal(api.status(), 200, "the API answers with the cookie");
      assert.ok((await api.json()).services.some((s) => s.name === SERVICE), `the API lists ${SERVICE}`);
      step("a reload and another view stay logged in");
      await page.reload();
      await expectServicesPage(page);
      const index = await page.goto(`${UI}/index.html`);
      assert.equal(index.status(), 200, "/index.html is served with the cookie");
      await page.locator(`[data-testid="service-row"][data-service="${SERVICE}"]`).waitFor();
    });

    await withContext(browser, async (page) => {
      step("paste the token into the refusal page's form: the services page");
      await expectRefused(page, "/");
      await page.locator('input[name="t"]').fill(TOKEN);
      await page.getByRole("button", { name: "Log in" }).click();
      await expectServicesPage(page);
    });
  } finally {
    await browser.close();
  }
});
