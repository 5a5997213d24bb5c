// The hosted form in a real browser (issue 15 must-haves 3, 7, 8): Debian's Chromium fills and
// submits the API-key form (first with a key the catalog's pattern refuses, then a good one), the
// bearer form and the basic form (username, password and a tenant subdomain), each landing on the
// app's callback with status=success; composio-client then reads every account as ACTIVE with
// its scheme and credential. Screenshots of each form state, desktop and 375 px wide, go to
// target/e2e-artifacts/forms/. The toolkits come from tests/e2e/catalog/forms.yaml.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { PAGE_CSP } from '../lib/checks.mjs';
import { CHROMIUM, CHROMIUM_ARGS, composioRead, shoot } from '../lib/forms.mjs';
import { createLink, createSchemeConfig, isBindingCookie, saveSecrets } from '../lib/harness.mjs';

const typed = [];
const bindings = [];
let app;
let browser;

before(async () => {
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
  saveSecrets('forms', { formSecrets: typed, bindings });
});

/** A page that records CSP violations and failed loads. */
async function watchedPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !['/favicon.ico'].includes(new URL(r.url()).pathname) && !r.url().endsWith('/fields')) {
      problems.push(`${r.status()} ${r.url()}`);
    }
  });
  return { page, problems };
}

async function connectWithForm({ slug, scheme, fill, name, submit }) {
  const config = await createSchemeConfig(slug, scheme);
  const appPort = app.address().port;
  const link = await createLink(config, { callbackUrl: `http://127.0.0.1:${appPort}/app/connected?from=${name}` });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, problems } = await watchedPage(context);
  const response = await page.goto(link.redirectUrl);
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['content-security-policy'], `${PAGE_CSP} http://127.0.0.1:${appPort}`);
  await page.getByRole('button', { name: submit }).waitFor();
  await shoot(page, `${name}-empty`);
  await fill(page, context);
  await page.getByRole('button', { name: submit }).click();
  await page.waitForURL((u) => u.href.startsWith(`http://127.0.0.1:${appPort}/app/connected`));
  const landed = new URL(page.url());
  assert.equal(landed.searchParams.get('status'), 'success');
  assert.equal(landed.searchParams.get('connected_account_id'), link.accountId);
  assert.equal(landed.searchParams.get('from'), name);
  const cookies = await context.cookies();
  bindings.push(...cookies.filter((c) => isBindingCookie(c.name)).map((c) => c.value));
  assert.deepEqual(problems, [], 'no CSP violations or failed loads');
  await context.close();
  return link;
}

test('Chromium: the API-key form refuses a bad key inline, then connects; composio-client reads it', async () => {
  const bad = `ek-short${randomBytes(2).toString('hex')}`;
  const key = `ek-${randomBytes(18).toString('hex')}`;
  typed.push(bad, key);
  const link = await connectWithForm({
    slug: 'e2e_apikey',
    scheme: 'API_KEY',
    name: 'api-key',
    submit: 'Connect E2E Key Service',
    fill: async (page) => {
      const input = page.getByLabel('API key');
      assert.equal(await input.getAttribute('type'), 'password');
      assert.equal(await input.getAttribute('autocomplete'), 'off');
      await input.fill(bad);
      await page.getByRole('button', { name: 'Connect E2E Key Service' }).click();
      await page.getByRole('alert').waitFor();
      // The e2e project has no display name: the page names it by its project name.
      assert.equal(await page.title(), 'Error: Connect E2E Key Service · e2e');
      const again = page.getByLabel('API key');
      assert.equal(await again.getAttribute('aria-invalid'), 'true');
      assert.equal(await again.inputValue(), '', 'the secret is not written back');
      assert.ok(!(await page.content()).includes(bad), 'the refused key appears nowhere on the page');
      const describedBy = (await again.getAttribute('aria-describedby')).split(' ');
      const error = await page.locator(`#${describedBy.at(-1)}`).innerText();
      assert.equal(error, 'API key: This does not match the expected format.');
      await shoot(page, 'api-key-error');
      await again.fill(key);
    },
  });
  const read = await composioRead(link.accountId);
  assert.equal(read.status, 'ACTIVE');
  assert.equal(read.toolkit, 'e2e_apikey');
  assert.equal(read.auth_scheme, 'API_KEY');
  assert.equal(read.state?.authScheme, 'API_KEY');
  assert.equal(read.state?.val?.api_key, key);
});

test('Chromium: the bearer-token form connects; composio-client reads it', async () => {
  const token = `bt_${randomBytes(20).toString('hex')}`;
  typed.push(token);
  const link = await connectWithForm({
    slug: 'e2e_bearer',
    scheme: 'BEARER_TOKEN',
    name: 'bearer',
    submit: 'Connect E2E Token Service',
    fill: (page) => page.getByLabel('Access token').fill(token),
  });
  const read = await composioRead(link.accountId);
  assert.equal(read.status, 'ACTIVE');
  assert.equal(read.auth_scheme, 'BEARER_TOKEN');
  assert.equal(read.state?.authScheme, 'BEARER_TOKEN');
  assert.equal(read.state?.val?.token, token);
});

test('Chromium: the basic form (subdomain, username, password) connects; a template breaker is refused first', async () => {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  typed.push(password);
  const link = await connectWithForm({
    slug: 'e2e_basic',
    scheme: 'BASIC',
    name: 'basic',
    submit: 'Connect E2E Desk',
    fill: async (page) => {
      await page.getByLabel('Subdomain').fill('evil.com/');
      await page.getByLabel('Email or username').fill('alice@example.com');
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Connect E2E Desk' }).click();
      await page.getByRole('alert').waitFor();
      assert.equal(await page.getByLabel('Subdomain').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.getByLabel('Subdomain').inputValue(), 'evil.com/', 'a non-secret value is kept');
      assert.equal(await page.getByLabel('Email or username').inputValue(), 'alice@example.com');
      assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not written back');
      assert.ok(!(await page.content()).includes(password));
      await shoot(page, 'basic-error');
      await page.getByLabel('Subdomain').fill('acme');
      await page.getByLabel('Password').fill(password);
    },
  });
  const read = await composioRead(link.accountId);
  assert.equal(read.status, 'ACTIVE');
  assert.equal(read.auth_scheme, 'BASIC');
  assert.equal(read.state?.authScheme, 'BASIC');
  assert.equal(read.state?.val?.username, 'alice@example.com');
  assert.equal(read.state?.val?.password, password);
});
