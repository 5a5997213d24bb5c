// In a real browser: Debian's Chromium (headless, via playwright-core) opens the redirect_url,
// clicks Continue, signs in and consents at the provider, and lands on the app's callback page
// with status=success; Composio's Python client then reads the account as ACTIVE. The link page
// is kept as a screenshot (tests/e2e/artifacts/link-page.png).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { PAGE_CSP } from '../lib/checks.mjs';
import { createAuthConfig, createLink, env, isBindingCookie, startTestIdp, stopIdp } from '../lib/harness.mjs';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let idp;
let app;
let browser;
before(async () => {
  idp = await startTestIdp();
  // The app's own callback page: a real page on 127.0.0.1 the browser lands on.
  app = http.createServer((req, res) => {
    const q = new URL(req.url, 'http://127.0.0.1').searchParams;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>App</title><h1 id="status">${q.get('status') === 'success' ? 'connected' : 'not connected'}</h1>`);
  });
  await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  app?.closeAllConnections();
  await new Promise((resolve) => (app ? app.close(resolve) : resolve()));
  await stopIdp(idp, 'browser');
});

async function composioStatus(accountId) {
  const script = `
import os
from composio_client import Composio
client = Composio(base_url=os.environ["E2E_BASE_URL"], api_key=os.environ["E2E_API_KEY"])
account = client.connected_accounts.retrieve(os.environ["E2E_ACCOUNT_ID"])
print(account.id, account.status)
`;
  const { stdout } = await promisify(execFile)(env.python, ['-c', script], {
    env: { ...process.env, E2E_BASE_URL: env.baseUrl, E2E_API_KEY: env.apiKey, E2E_ACCOUNT_ID: accountId },
    timeout: 60_000,
  });
  return stdout.trim();
}

test('Chromium: link page -> Continue -> sign in -> Allow -> app callback; composio-client sees ACTIVE', async (t) => {
  const config = await createAuthConfig(idp, { slug: `browser_${Date.now().toString(36)}` });
  const appPort = app.address().port;
  const link = await createLink(config, { callbackUrl: `http://127.0.0.1:${appPort}/app/connected?from=browser` });

  const context = await browser.newContext();
  const page = await context.newPage();
  const requested = [];
  const failed = [];
  const consoleErrors = [];
  page.on('request', (r) => requested.push(r.url()));
  // Chromium asks every site for /favicon.ico on its own; authlink has none (404), which is fine.
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') failed.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
  });

  const response = await page.goto(link.redirectUrl);
  assert.equal(response.status(), 200);
  // Chromium applies form-action to the redirects after Continue's POST: the page names the
  // provider and the app's callback origin (where a provider that asks nothing ends up).
  assert.equal(
    response.headers()['content-security-policy'],
    `${PAGE_CSP} ${new URL(idp.authorizationUrl).origin} http://127.0.0.1:${appPort}`,
  );
  const continueButton = page.getByRole('button', { name: `Continue to ${config.slug}` });
  await continueButton.waitFor();
  assert.match(await page.locator('h1').innerText(), new RegExp(config.slug));
  assert.match(await page.locator('main').innerText(), new RegExp(`127\\.0\\.0\\.1:${appPort}`));
  const sheets = await page.evaluate(() => [...document.styleSheets].map((sheet) => [sheet.href, sheet.cssRules.length]));
  assert.deepEqual(sheets, [[`${env.baseUrl}/assets/authlink.css`, sheets[0]?.[1]]], 'one stylesheet, from authlink');
  assert.ok(sheets[0][1] > 0, 'the stylesheet has rules');
  assert.deepEqual(consoleErrors, [], 'no CSP violations or other errors on the link page');
  assert.deepEqual(failed, [], 'every resource of the link page loaded');
  mkdirSync(env.artifacts, { recursive: true });
  const shot = path.join(env.artifacts, 'link-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`link page screenshot: ${shot}`);
  console.log(`link page screenshot: ${shot}`);

  await continueButton.click();
  await page.waitForURL((u) => u.href.startsWith(`${idp.issuer}/interaction/`));
  await page.getByLabel('Login').fill('browser-user');
  await page.getByLabel('Password').fill('correct horse');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((u) => u.href.startsWith(`http://127.0.0.1:${appPort}/app/connected`));

  const landed = new URL(page.url());
  assert.equal(landed.searchParams.get('status'), 'success');
  assert.equal(landed.searchParams.get('connected_account_id'), link.accountId);
  assert.equal(landed.searchParams.get('from'), 'browser');
  assert.equal(await page.locator('#status').innerText(), 'connected');
  assert.equal(await page.context().cookies().then((cs) => cs.find((c) => isBindingCookie(c.name))?.httpOnly), true);
  const foreign = requested.filter((u) => new URL(u).hostname !== '127.0.0.1');
  assert.deepEqual(foreign, [], 'the browser only talked to 127.0.0.1');
  await context.close();

  assert.equal(idp.counters.authorizationCode, 1);
  assert.equal(await composioStatus(link.accountId), `${link.accountId} ACTIVE`);
});
