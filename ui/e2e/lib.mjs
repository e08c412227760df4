// Shared by the browser tests: Debian's headless Chromium through playwright-core, the settings the
// pytest wrapper passes in the environment, screenshots, and a step log that explains a failure.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** A required environment variable (set by tests/ui/test_browser.py). */
export function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set (run through tests/ui/test_browser.py)`);
  return v;
}

export function step(text) {
  console.log(`- ${text}`);
}

/** Opens a page on the UI, runs fn(page), always closes the browser; errors on the page fail the test. */
export async function withPage(fn) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const pageErrors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light" });
    context.setDefaultTimeout(Number(process.env.STEP_TIMEOUT_MS || 15000));
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(String(err)));
    page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(`console: ${msg.text()}`); });
    await fn(page);
    if (pageErrors.length) throw new Error(`the page reported errors:\n${pageErrors.join("\n")}`);
  } finally {
    await browser.close();
  }
}

export async function screenshot(page, name) {
  const dir = need("ARTIFACTS");
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  step(`screenshot ${path}`);
}

/** Runs main, printing the failure and exiting 1 so the wrapper shows what went wrong. */
export function run(main) {
  main().then(
    () => console.log("browser test passed"),
    (err) => { console.error(`browser test FAILED: ${err?.stack || err}`); process.exit(1); },
  );
}
