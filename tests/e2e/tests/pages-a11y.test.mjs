// Every page state of the connect flow (the hosted credential form too, empty and with errors),
// in Chromium, checked with axe-core against WCAG 2.2 AA (tags wcag2a, wcag2aa, wcag21a, wcag21aa,
// wcag22aa, plus the landmark and heading rules) in
// English, Japanese and Simplified Chinese (the browser's locale, so Accept-Language picks the language), at a
// desktop size and at a 375 px wide viewport, where nothing may scroll sideways. The link pages
// belong to a project of their own with full branding (name, logo, accent colour, support link),
// which every state of its links shows (link, connected, used, failed, cookies needed, the hosted
// form, the form with its errors and its connected page, expired); the pages that belong to no
// project (unknown link, the callback without or with an unknown state) stay unbranded.
// A screenshot of every state, language and size is kept in
// target/e2e-artifacts/pages/{state}-{lang}-{desktop,mobile}.png.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { startIdp } from '../idp.mjs';
import { api, env, stopIdp, uniq } from '../lib/harness.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
// Best-practice rules axe keeps out of the WCAG tags that the pages follow as well.
const STRUCTURE = ['region', 'landmark-one-main', 'page-has-heading-one', 'heading-order', 'landmark-unique',
  'landmark-no-duplicate-main'];
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 740 };
const LOCALES = [
  { lang: 'en', tag: 'en', locale: 'en-US' },
  { lang: 'ja', tag: 'ja', locale: 'ja-JP' },
  { lang: 'zh', tag: 'zh-Hans', locale: 'zh-CN' },
];
const ARTIFACTS = process.env.AUTHLINK_E2E_PAGE_ARTIFACTS || path.resolve(import.meta.dirname, '../../../target/e2e-artifacts/pages');
// A 16×16 PNG (an opaque violet square).
const LOGO = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGPI1bhJEmIY1TCqYfhqAAAn4G4QN7WOrwAAAABJRU5ErkJggg==',
  'base64',
);

let idp;
let browser;
let key;
let brand;

/** A project of its own, made with the CLI; returns its key and OAuth redirect URI. */
function newProject() {
  const out = execFileSync(process.env.AUTHLINK_BIN, ['api-key', 'create', '--project', `e2e_brand_${uniq()}`], {
    env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
  const redirect = out.match(/\{AUTHLINK_PUBLIC_URL\}(\/oauth\/callback\S*)/);
  assert.ok(redirect, out);
  return { key: out.trim().split('\n').at(-1).trim(), callback: `${env.baseUrl}${redirect[1]}` };
}

async function ok(method, route, body, opts = {}) {
  const r = await api(method, route, body, { key, ...opts });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${route}: ${r.status} ${r.text}`);
  return r.body;
}

/** A provider on one of run.sh's allowlisted ports, registered with the project's redirect URI. */
async function startProjectIdp(callback) {
  const pool = (process.env.AUTHLINK_E2E_IDP_PORTS || '').split(',').filter(Boolean).map(Number);
  for (let i = 0; i < pool.length; i++) {
    try {
      return await startIdp({ authlinkCallback: callback, port: pool[(process.pid + 7 + i) % pool.length] });
    } catch (e) {
      if (e?.code !== 'EADDRINUSE') throw e;
    }
  }
  return startIdp({ authlinkCallback: callback });
}

before(async () => {
  const project = newProject();
  key = project.key;
  idp = await startProjectIdp(project.callback);
  brand = await ok('PATCH', '/link_page', {
    display_name: 'Acme Mail',
    accent_color: '#6d28d9',
    support_url: 'https://help.acme.example/connect',
  });
  const res = await fetch(`${env.baseUrl}/api/v3.1/link_page/logo`, {
    method: 'PUT', headers: { 'x-api-key': key, 'content-type': 'image/png' }, body: LOGO,
  });
  assert.equal(res.status, 200, await res.clone().text());
  brand = await res.json();
  assert.equal(brand.accent_text_color, '#ffffff');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  mkdirSync(ARTIFACTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await stopIdp(idp, 'pages-a11y');
});

async function authConfig() {
  const slug = `acme_idp_${uniq()}`;
  const body = await ok('POST', '/auth_configs', {
    toolkit: { slug },
    auth_config: {
      type: 'use_custom_auth',
      authScheme: 'OAUTH2',
      credentials: {
        client_id: idp.clients.basic.client_id,
        client_secret: idp.clients.basic.client_secret,
        authorization_url: idp.authorizationUrl,
        token_url: idp.tokenUrl,
        client_auth: 'client_secret_basic',
        issuer: idp.issuer,
        scopes: ['openid', 'offline_access', 'https://mail.acme.example/auth/messages.readonly'],
      },
    },
  });
  return { slug, id: body.auth_config.id };
}

/** A link without a callback URL, so the flow ends on authlink's own pages. */
async function newLink(config, { base = env.baseUrl } = {}) {
  const session = await ok('POST', '/tool_router/session', { user_id: `u_${uniq()}`, auth_configs: { [config.slug]: config.id } }, { base });
  const link = await ok('POST', `/tool_router/session/${session.session_id}/link`, { toolkit: config.slug }, { base });
  return link.redirect_url;
}

/**
 * axe at the desktop size, then at 375 px (no sideways scrolling), with a screenshot of each.
 * `expect` is the HTTP status the page answered with and the text its h1 must have.
 */
async function check(t, page, state, { lang, tag }, { status, response }) {
  if (response) assert.equal(response.status(), status, `${state}/${lang}: status`);
  assert.equal(await page.evaluate(() => document.documentElement.lang), tag, `${state}/${lang}: <html lang>`);
  assert.equal(await page.locator('h1').count(), 1, `${state}/${lang}: one h1`);
  await page.evaluate(AXE);
  for (const [size, viewport] of [['desktop', DESKTOP], ['mobile', MOBILE]]) {
    await page.setViewportSize(viewport);
    for (const runOnly of [{ type: 'tag', values: TAGS }, { type: 'rule', values: STRUCTURE }]) {
      const result = await page.evaluate((options) => window.axe.run(document, options), { runOnly, resultTypes: ['violations'] });
      const violations = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      assert.deepEqual(violations, [], `${state}/${lang}/${size}: axe violations`);
    }
    if (size === 'mobile') {
      const width = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
      assert.ok(width <= MOBILE.width, `${state}/${lang}: scrollWidth ${width} > ${MOBILE.width}`);
    }
    const shot = path.join(ARTIFACTS, `${state}-${lang}-${size}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(shot);
  }
  await page.setViewportSize(DESKTOP);
}

/** The page carries the project's brand: name (header and title), logo, accent, support link. */
async function assertBranded(page, state, { lang }) {
  const what = `${state}/${lang}`;
  assert.equal(await page.locator('.brand .app').innerText(), 'Acme Mail', `${what}: the app's name`);
  assert.ok((await page.title()).endsWith(' · Acme Mail'), `${what}: title ${await page.title()}`);
  const logo = page.locator('.brand img');
  assert.equal(new URL(await logo.evaluate((img) => img.src)).href, brand.logo.url, `${what}: the logo`);
  assert.equal(await logo.evaluate((img) => img.complete && img.naturalWidth), 16, `${what}: the logo loaded from authlink`);
  const sheets = await page.locator('link[rel=stylesheet]').evaluateAll((ls) => ls.map((l) => new URL(l.href).pathname));
  assert.deepEqual(sheets, ['/assets/authlink.css', '/link-assets/accent/6d28d9'], `${what}: the accent stylesheet`);
  assert.equal(await page.locator('.support a').getAttribute('href'), 'https://help.acme.example/connect', `${what}: support`);
  assert.match(await page.locator('.support a').innerText(), /Acme Mail/, `${what}: the support link names the app`);
  const button = page.locator('button[type=submit]');
  if (await button.count()) {
    assert.equal(await button.evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(109, 40, 217)', `${what}: accent`);
  }
}

/** A page that belongs to no project: authlink's own look. */
async function assertUnbranded(page, state, { lang }) {
  const what = `${state}/${lang}`;
  assert.equal(await page.locator('.brand, .support').count(), 0, `${what}: no brand`);
  assert.ok((await page.title()).endsWith(' · authlink'), `${what}: title ${await page.title()}`);
  const sheets = await page.locator('link[rel=stylesheet]').evaluateAll((ls) => ls.map((l) => new URL(l.href).pathname));
  assert.deepEqual(sheets, ['/assets/authlink.css'], `${what}: no accent`);
}

async function signIn(page, decision) {
  await page.waitForURL((u) => u.href.startsWith(`${idp.issuer}/interaction/`), { timeout: 10_000 }).catch(async (e) => {
    throw new Error(`not at the provider's sign-in: ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 500)}`, { cause: e });
  });
  await page.getByLabel('Login').fill(`a11y_${uniq()}`);
  await page.getByLabel('Password').fill('correct horse');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: decision }).click();
  await page.waitForURL((u) => u.href.startsWith(`${env.baseUrl}/oauth/callback`));
}

// The languages run side by side (each in its own browser context, with its own links), so their
// 31 s waits for the expired link overlap and the file stays within run.sh's per-file timeout.
describe('pages', { concurrency: true }, () => {
  for (const loc of LOCALES) {
    test(`every page state passes axe (WCAG 2.2 AA) at desktop and 375 px: ${loc.lang}`, async (t) => {
      const config = await authConfig();
      // Created first, checked last: a link of the 30 s server, expired by then.
      const expiring = await newLink(config, { base: env.shortBaseUrl });
      const createdAt = Date.now();
      const context = await browser.newContext({ locale: loc.locale, viewport: DESKTOP });
      const page = await context.newPage();
      const errors = [];
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
      });

      // The branded link page, then connected, then the same link again (used).
      const url = await newLink(config);
      let response = await page.goto(url);
      await check(t, page, 'link', loc, { status: 200, response });
      await assertBranded(page, 'link', loc);
      const main = await page.locator('main').innerText();
      assert.match(main, /Acme Mail/);
      assert.match(main, new RegExp(config.slug));
      assert.match(main, /messages\.readonly/, 'the scopes are listed');
      const logo = page.locator('.brand img');
      assert.equal(await logo.evaluate((img) => img.complete && img.naturalWidth), 16, 'the logo loaded from authlink');
      assert.equal(new URL(await logo.evaluate((img) => img.src)).href, brand.logo.url);
      const button = page.locator('button[type=submit]');
      assert.equal(await button.evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(109, 40, 217)', 'the accent colour');
      assert.equal(await page.locator('.support a').getAttribute('href'), 'https://help.acme.example/connect');
      const languages = await page.locator('nav a').evaluateAll((as) => as.map((a) => a.lang));
      assert.deepEqual(languages, ['en', 'de', 'es', 'fr', 'ja', 'zh-Hans']);
      // Keyboard: Tab reaches the Continue button, and its focus is visible.
      await page.keyboard.press('Tab');
      let focused = '';
      for (let i = 0; i < 5 && focused !== 'BUTTON'; i++) {
        focused = await page.evaluate(() => document.activeElement?.tagName);
        if (focused !== 'BUTTON') await page.keyboard.press('Tab');
      }
      assert.equal(focused, 'BUTTON', 'Continue is reachable with Tab');
      assert.notEqual(await button.evaluate((b) => getComputedStyle(b).outlineStyle), 'none', 'visible focus');
      await button.click();
      await signIn(page, 'Allow');
      await check(t, page, 'connected', loc, { status: 200 });
      await assertBranded(page, 'connected', loc);
      response = await page.goto(url);
      await check(t, page, 'used', loc, { status: 410, response });
      await assertBranded(page, 'used', loc);

      // A denied consent without a callback URL: the failed page (in a fresh browser, which has
      // no session at the provider yet).
      const denying = await browser.newContext({ locale: loc.locale, viewport: DESKTOP });
      const denyPage = await denying.newPage();
      await denyPage.goto(await newLink(config));
      await denyPage.locator('button[type=submit]').click();
      await signIn(denyPage, 'Deny');
      await check(t, denyPage, 'failed', loc, { status: 400 });
      await assertBranded(denyPage, 'failed', loc);
      await denying.close();

      // Continue without the binding cookie.
      await page.goto(await newLink(config));
      await context.clearCookies();
      await page.locator('button[type=submit]').click();
      await page.waitForLoadState();
      assert.match(page.url(), /\/continue$/);
      await check(t, page, 'cookies', loc, {});
      await assertBranded(page, 'cookies', loc);

      // The hosted form of a basic-auth toolkit (tests/e2e/catalog/forms.yaml): empty, then sent
      // with a subdomain its pattern refuses (the form again, 400, errors inline and summarised).
      const basic = await ok('POST', '/auth_configs', {
        toolkit: { slug: 'e2e_basic' }, auth_config: { type: 'use_custom_auth', authScheme: 'BASIC' },
      });
      response = await page.goto(await newLink({ slug: 'e2e_basic', id: basic.auth_config.id }));
      await check(t, page, 'form', loc, { status: 200, response });
      await assertBranded(page, 'form', loc);
      assert.equal(await page.locator('form.fields input[type=password]').count(), 1, 'the password input');
      await page.locator('#f-subdomain').fill('acme.evil');
      await page.locator('#f-username').fill('alice');
      await page.locator('#f-password').fill('correct horse');
      [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/fields')),
        page.locator('button[type=submit]').click(),
      ]);
      await page.waitForLoadState();
      await check(t, page, 'form-errors', loc, { status: 400, response });
      await assertBranded(page, 'form-errors', loc);
      assert.equal(await page.locator('.error-summary li').count(), 1, 'one error in the summary');
      assert.equal(await page.locator('#f-subdomain').getAttribute('aria-invalid'), 'true');
      // The error is worded in the page's language (assets/i18n), after the field's label.
      const patternText = JSON.parse(readFileSync(path.resolve(import.meta.dirname, `../../../assets/i18n/${loc.lang}.json`), 'utf8'))['form.error.pattern'];
      assert.ok((await page.locator('#f-subdomain-error').innerText()).endsWith(patternText), `form-errors/${loc.lang}: ${patternText}`);
      // Corrected, the form connects: the connected page of a link without a callback URL.
      await page.locator('#f-subdomain').fill('acme');
      await page.locator('#f-password').fill('correct horse');
      [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/fields')),
        page.locator('button[type=submit]').click(),
      ]);
      await page.waitForLoadState();
      await check(t, page, 'form-connected', loc, { status: 200, response });
      await assertBranded(page, 'form-connected', loc);

      // Unknown link, the callback's errors.
      response = await page.goto(`${env.baseUrl}/link/ln_${'A'.repeat(32)}`);
      await check(t, page, 'unknown', loc, { status: 404, response });
      await assertUnbranded(page, 'unknown', loc);
      response = await page.goto(`${env.baseUrl}/oauth/callback`);
      await check(t, page, 'sign-in-missing-state', loc, { status: 400, response });
      await assertUnbranded(page, 'sign-in-missing-state', loc);
      response = await page.goto(`${env.baseUrl}/oauth/callback?state=${'x'.repeat(43)}&code=abc`);
      await check(t, page, 'sign-in-unknown-state', loc, { status: 400, response });
      await assertUnbranded(page, 'sign-in-unknown-state', loc);

      // The expired link, after its 30 s.
      const wait = createdAt + 31_000 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      response = await page.goto(expiring);
      await check(t, page, 'expired', loc, { status: 410, response });
      await assertBranded(page, 'expired', loc);

      assert.deepEqual(errors, [], 'no CSP violations or other console errors');
      await context.close();
    });
  }
});
