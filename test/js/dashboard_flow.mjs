// The built-in dashboard in a real browser (Debian's chromium, headless,
// driven by playwright-core): open /dashboard, enter the API key, wait for
// the model's row, and print what the page shows for it.
// Usage: STRATA_ENDPOINT=... node dashboard_flow.mjs <apiKey> <modelArn> <api> <screenshot.png>
import { chromium } from "playwright-core";

const [apiKey, model, api, screenshot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
function check(cond, msg) {
  if (!cond) {
    console.error("FAIL: " + msg);
    process.exit(1);
  }
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const failed = [];
  page.on("requestfailed", (r) => failed.push(r.url()));
  page.on("pageerror", (e) => failed.push("page error: " + e.message));
  await page.goto(process.env.STRATA_ENDPOINT + "/dashboard");
  check((await page.locator("#key-form").isVisible()) && !(await page.locator("#data").isVisible()), "the page does not ask for a key first");

  // A wrong key is refused, and the form stays.
  await page.fill("#key", "sk-strata-wrong");
  await page.click("#key-form button");
  await page.waitForFunction(() => /UnrecognizedClient/.test(document.getElementById("status").textContent));
  check(!(await page.locator("#data").isVisible()), "data shown for a wrong key");

  await page.fill("#key", apiKey);
  await page.click("#key-form button");
  const row = page.locator(`#invocations tbody tr[data-model="${model}"][data-api="${api}"]`);
  await row.waitFor({ timeout: 15000 });
  const field = (f) => row.locator(`[data-field="${f}"]`).textContent();
  const shown = {
    invocations: await field("invocations"),
    latency_mean: await field("latency-mean"),
    latency_p50: await field("latency-p50"),
    latency_p95: await field("latency-p95"),
    tokens_out: await field("tokens-out"),
    total_invocations: await page.textContent("#t-invocations"),
    tier_queries: await page.textContent('#tiers tr[data-tier="simple"] [data-field="queries"]'),
    tier_cost: await page.textContent('#tiers tr[data-tier="simple"] [data-field="cost"]'),
    key_in_storage: await page.evaluate(() => sessionStorage.getItem("strata-dashboard-key") !== null),
  };
  // One more refresh (every 5 s) gives per-second rates.
  await page.waitForFunction(() => /\/s$/.test(document.getElementById("t-invocations-rate").textContent), null, { timeout: 15000 });
  shown.rate = await page.textContent("#t-invocations-rate");
  await page.screenshot({ path: screenshot, fullPage: true });
  check(failed.length === 0, "failed requests: " + failed.join(", "));
  console.log(JSON.stringify({ ok: true, shown }));
} finally {
  await browser.close();
}
