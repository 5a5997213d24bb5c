// The API reference at /docs renders in a real browser (Debian's Chromium, headless) from
// authlink's own origin: every request the page makes goes to authlink, the CSP reports no
// violation, no script error, and Swagger UI lists the operations of /openapi.json.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { env } from '../lib/harness.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
});

test('Chromium: /docs renders the OpenAPI document with nothing from another origin', async () => {
  const page = await browser.newPage();
  const origin = new URL(env.baseUrl).origin;
  const requests = [];
  const problems = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  const response = await page.goto(`${env.baseUrl}/docs`);
  assert.equal(response.status(), 200);
  await page.waitForSelector('.opblock', { timeout: 30_000 });
  const operations = await page.locator('.opblock').count();
  const spec = await (await fetch(`${env.baseUrl}/openapi.json`)).json();
  const documented = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  assert.equal(operations, documented, 'Swagger UI shows every documented operation');
  assert.match(await page.locator('.info .title').innerText(), /authlink/);
  for (const url of requests) assert.equal(new URL(url).origin, origin, `a request to another origin: ${url}`);
  assert.deepEqual(problems, [], 'no CSP violation or script error');
  await page.close();
});
