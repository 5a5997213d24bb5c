// The subdomain step of an OAuth flow in a real browser (issue 15 must-have 8): toolkit
// `e2e_tenant` (written by run.sh into AUTHLINK_CATALOG_DIR) has endpoints templated on the
// tenant, `https://{subdomain}.localhost:PORT/…`. Chromium opens the link, gets a form asking
// for the tenant, types a host breaker (`evil.com/`, refused inline), then `tenant-e2e`, and goes
// on to oidc-provider at https://tenant-e2e.localhost:PORT (self-signed, so this context ignores
// certificate errors), signs in, allows, and lands on the app's callback with status=success;
// composio-client reads the account as ACTIVE.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { PAGE_CSP } from '../lib/checks.mjs';
import { CHROMIUM, CHROMIUM_ARGS, composioRead, shoot } from '../lib/forms.mjs';
import { apiOk, authlinkCallback, createLink, env, isBindingCookie, stopIdp } from '../lib/harness.mjs';
import { startIdp } from '../idp.mjs';
const TENANT = 'tenant-e2e';

function required(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run through tests/e2e/run.sh`);
  return v;
}

let idp;
let app;
let browser;
const bindings = [];

before(async () => {
  const tls = required('AUTHLINK_E2E_TLS_DIR');
  const pool = (process.env.AUTHLINK_E2E_IDP_PORTS || '').split(',').filter(Boolean).map(Number);
  // The back channel (token endpoint) on an allowlisted port of the pool; the front channel on the
  // port the catalog entry names.
  for (let i = 0; i < pool.length && !idp; i++) {
    try {
      idp = await startIdp({
        authlinkCallback: authlinkCallback(),
        port: pool[(process.pid + 7 + i) % pool.length],
        frontChannel: {
          host: `${TENANT}.localhost`,
          port: Number(required('AUTHLINK_E2E_TENANT_PORT')),
          key: readFileSync(path.join(tls, 'key.pem')),
          cert: readFileSync(path.join(tls, 'cert.pem')),
        },
      });
    } catch (e) {
      if (e?.code !== 'EADDRINUSE') throw e;
    }
  }
  assert.ok(idp, 'the tenant provider started');
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
  await stopIdp(idp, 'form-oauth-subdomain', { bindings });
});

test('Chromium: the tenant form refuses a host breaker, then continues to https://tenant-e2e.localhost; ACTIVE', async () => {
  // The catalog's templated authorization URL; the token endpoint is the provider's plain-http
  // listener (an allowlisted origin), and `iss` is the tenant's https issuer.
  const body = await apiOk('POST', '/auth_configs', {
    toolkit: { slug: 'e2e_tenant' },
    auth_config: {
      type: 'use_custom_auth',
      authScheme: 'OAUTH2',
      credentials: {
        client_id: idp.clients.basic.client_id,
        client_secret: idp.clients.basic.client_secret,
        token_url: idp.tokenUrl,
        issuer: idp.issuer,
        scopes: ['openid', 'offline_access'],
      },
    },
  });
  const config = { slug: 'e2e_tenant', authConfigId: body.auth_config.id };
  const appPort = app.address().port;
  const link = await createLink(config, { callbackUrl: `http://127.0.0.1:${appPort}/app/connected?from=tenant` });

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
  });
  const response = await page.goto(link.redirectUrl);
  assert.equal(response.status(), 200);
  const tenantPort = required('AUTHLINK_E2E_TENANT_PORT');
  assert.equal(
    response.headers()['content-security-policy'],
    `${PAGE_CSP} https://*.localhost:${tenantPort} http://127.0.0.1:${appPort}`,
  );
  const button = page.getByRole('button', { name: 'Continue to E2E Tenant IdP' });
  await button.waitFor();
  await shoot(page, 'oauth-subdomain-empty');

  await page.getByLabel('Your tenant').fill('evil.com/');
  await button.click();
  await page.getByRole('alert').waitFor();
  const input = page.getByLabel('Your tenant');
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  assert.equal(await input.inputValue(), 'evil.com/');
  await shoot(page, 'oauth-subdomain-error');
  assert.equal(idp.counters.authorizationCode, 0);

  await input.fill(TENANT);
  await page.getByRole('button', { name: 'Continue to E2E Tenant IdP' }).click();
  await page.waitForURL((u) => u.href.startsWith(`https://${TENANT}.localhost:${tenantPort}/interaction/`));
  await page.getByLabel('Login').fill('tenant-user');
  await page.getByLabel('Password').fill('correct horse');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((u) => u.href.startsWith(`http://127.0.0.1:${appPort}/app/connected`));
  const landed = new URL(page.url());
  assert.equal(landed.searchParams.get('status'), 'success');
  assert.equal(landed.searchParams.get('connected_account_id'), link.accountId);
  bindings.push(...(await context.cookies()).filter((c) => isBindingCookie(c.name)).map((c) => c.value));
  assert.deepEqual(consoleErrors, [], 'no CSP violations');
  await context.close();

  assert.equal(idp.counters.authorizationCode, 1, 'the code was exchanged once, at the tenant provider');
  const read = await composioRead(link.accountId);
  assert.equal(read.status, 'ACTIVE');
  assert.equal(read.toolkit, 'e2e_tenant');
  assert.equal(read.auth_scheme, 'OAUTH2');
  assert.ok(read.state?.val?.access_token, 'the access token is readable by the app');
  assert.equal(env.baseUrl.startsWith('http://127.0.0.1:'), true);
});
