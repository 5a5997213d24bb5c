// Shared pieces of the end-to-end tests: the running authlink (started by run.sh), its API, a
// per-file identity provider, and a tiny "browser" (plain fetch with a cookie jar and manual
// redirects) that walks the connect flow step by step so a test can stop, tamper or replay
// anywhere along it.
//
// Environment (set by run.sh):
//   AUTHLINK_E2E_BASE_URL        authlink, AUTHLINK_LINK_TTL_SECS=600
//   AUTHLINK_E2E_SHORT_BASE_URL  a second authlink on the same database with AUTHLINK_LINK_TTL_SECS=30
//                                and the first one's AUTHLINK_PUBLIC_URL: links it creates expire
//                                after 30 s and lead to the first instance's pages
//   AUTHLINK_E2E_API_KEY         an API key of project `e2e`
//   AUTHLINK_E2E_STATE_DIR       where each test file leaves the secrets its provider issued, for
//                                the final clear-text check
//   AUTHLINK_E2E_PYTHON          python with composio-client 1.43.0
//   AUTHLINK_E2E_ARTIFACTS       where the browser test keeps its screenshot
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { startIdp } from '../idp.mjs';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through tests/e2e/run.sh`);
  return value;
}

export const env = {
  get baseUrl() { return required('AUTHLINK_E2E_BASE_URL'); },
  get shortBaseUrl() { return required('AUTHLINK_E2E_SHORT_BASE_URL'); },
  get apiKey() { return required('AUTHLINK_E2E_API_KEY'); },
  get stateDir() { return required('AUTHLINK_E2E_STATE_DIR'); },
  get python() { return required('AUTHLINK_E2E_PYTHON'); },
  get artifacts() { return required('AUTHLINK_E2E_ARTIFACTS'); },
};

/** A short random suffix keeping names of concurrently running test files apart. */
export const uniq = () => randomBytes(4).toString('hex');

/** authlink's one fixed OAuth callback, `{AUTHLINK_PUBLIC_URL}/oauth/callback`. */
export const authlinkCallback = () => `${env.baseUrl}/oauth/callback`;

/** Calls authlink's API with the project's key; returns status and parsed body. */
export async function api(method, route, body, { base = env.baseUrl, key = env.apiKey } = {}) {
  const res = await fetch(`${base}/api/v3.1${route}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

/** Like {@link api} but insists on a 2xx answer. */
export async function apiOk(method, route, body, opts) {
  const r = await api(method, route, body, opts);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${route} answered ${r.status}: ${r.text}`);
  return r.body;
}

export const getAccount = (id, opts) => apiOk('GET', `/connected_accounts/${id}`, undefined, opts);

/**
 * Starts this file's provider with authlink's callback as its clients' only redirect URI. Both
 * authlink instances share one AUTHLINK_PUBLIC_URL (the short-TTL one only creates links), so
 * there is one callback. Stop it with {@link stopIdp}.
 */
export async function startTestIdp() {
  // run.sh allowlists (AUTHLINK_ENDPOINT_ALLOWLIST) the origins of a pool of ports; authlink
  // refuses any other loopback endpoint. Start at a per-process offset to spread the files out.
  const pool = (process.env.AUTHLINK_E2E_IDP_PORTS || '').split(',').filter(Boolean).map(Number);
  if (pool.length === 0) return startIdp({ authlinkCallback: authlinkCallback() });
  for (let i = 0; i < pool.length; i++) {
    const port = pool[(process.pid + i) % pool.length];
    try {
      return await startIdp({ authlinkCallback: authlinkCallback(), port });
    } catch (e) {
      if (e?.code !== 'EADDRINUSE') throw e;
    }
  }
  throw new Error(`every port of AUTHLINK_E2E_IDP_PORTS is in use: ${pool.join(',')}`);
}

/**
 * Secrets that passed through this test process on authlink's side of the flow: link tokens
 * (stored only as hashes), `state` values (hashes) and browser-binding cookies (hashes).
 */
const observed = { linkTokens: new Set(), states: new Set(), bindings: new Set() };

/**
 * Writes, for the final clear-text check, every secret the provider issued or was configured
 * with and every one observed here, then stops the provider.
 */
export async function stopIdp(idp, name, { bindings = [] } = {}) {
  if (!idp) return;
  mkdirSync(env.stateDir, { recursive: true });
  const file = path.join(env.stateDir, `secrets-${name}-${process.pid}.json`);
  const pick = (records, key) => records.map((r) => r[key]).filter((v) => typeof v === 'string' && v);
  const all = [...idp.issued, ...idp.tokenErrors];
  writeFileSync(file, JSON.stringify({
    name,
    clientSecrets: [idp.clients.basic.client_secret, idp.clients.post.client_secret],
    codes: pick(all, 'code'),
    verifiers: pick(all, 'codeVerifier'),
    accessTokens: pick(all, 'accessToken'),
    refreshTokens: [...pick(all, 'refreshToken'), ...pick(all, 'refreshTokenUsed')],
    idTokens: pick(all, 'idToken'),
    linkTokens: [...observed.linkTokens],
    states: [...observed.states],
    bindings: [...observed.bindings, ...bindings],
  }));
  await idp.close();
}

/**
 * For test files that run no provider (the hosted forms): writes the secrets they typed into
 * forms (`formSecrets`) and the link tokens, states and bindings observed, for the final
 * clear-text check.
 */
export function saveSecrets(name, { formSecrets = [], bindings = [] } = {}) {
  mkdirSync(env.stateDir, { recursive: true });
  const file = path.join(env.stateDir, `secrets-${name}-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({
    name,
    formSecrets,
    linkTokens: [...observed.linkTokens],
    states: [...observed.states],
    bindings: [...observed.bindings, ...bindings],
  }));
}

/** An auth config of a non-OAuth scheme (API_KEY, BEARER_TOKEN, BASIC) for a catalog toolkit. */
export async function createSchemeConfig(slug, scheme, opts) {
  const body = await apiOk('POST', '/auth_configs', {
    toolkit: { slug },
    auth_config: { type: 'use_custom_auth', authScheme: scheme },
  }, opts);
  return { slug, authConfigId: body.auth_config.id };
}

/**
 * An auth config for a custom toolkit pointing at the test provider, authenticating at its
 * token endpoint with `method` (`client_secret_basic` or `client_secret_post`).
 */
export async function createAuthConfig(idp, { method = 'client_secret_basic', slug = `idp_${uniq()}`, opts } = {}) {
  const client = method === 'client_secret_post' ? idp.clients.post : idp.clients.basic;
  const body = await apiOk('POST', '/auth_configs', {
    toolkit: { slug },
    auth_config: {
      type: 'use_custom_auth',
      authScheme: 'OAUTH2',
      credentials: {
        client_id: client.client_id,
        client_secret: client.client_secret,
        authorization_url: idp.authorizationUrl,
        token_url: idp.tokenUrl,
        client_auth: method,
        issuer: idp.issuer,
        scopes: ['openid', 'offline_access'],
      },
    },
  }, opts);
  return { slug, authConfigId: body.auth_config.id, client };
}

/** A session for a new user and a link for the toolkit. */
export async function createLink({ slug, authConfigId }, { callbackUrl, base = env.baseUrl, userId = `user_${uniq()}` } = {}) {
  const session = await apiOk('POST', '/tool_router/session', { user_id: userId, auth_configs: { [slug]: authConfigId } }, { base });
  const link = await apiOk('POST', `/tool_router/session/${session.session_id}/link`, {
    toolkit: slug,
    ...(callbackUrl ? { callback_url: callbackUrl } : {}),
  }, { base });
  assert.match(link.redirect_url, /\/link\/[^/]+$/);
  observed.linkTokens.add(link.link_token);
  assert.match(link.connected_account_id, /^ca_/);
  return {
    userId,
    sessionId: session.session_id,
    linkToken: link.link_token,
    redirectUrl: link.redirect_url,
    accountId: link.connected_account_id,
  };
}

/** Whether a cookie name is one of authlink's browser-binding cookies (one per link). */
export function isBindingCookie(name) {
  return name.startsWith('authlink_binding_') || name.startsWith('__Host-authlink_binding_');
}

/** A browser's cookies: one jar for every port of 127.0.0.1, as browsers share them across ports. */
export class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(name) {
    return this.cookies.get(name);
  }

  set(name, value) {
    this.cookies.set(name, value);
  }

  /** The only browser-binding cookie, as [name, value] (fails unless there is exactly one). */
  binding() {
    const all = [...this.cookies].filter(([k]) => isBindingCookie(k));
    assert.equal(all.length, 1, `one binding cookie: ${JSON.stringify(all)}`);
    return all[0];
  }

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = attrs.some((a) => {
        const [k, v] = a.trim().split('=');
        return (k.toLowerCase() === 'max-age' && Number(v) <= 0)
          || (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now());
      });
      if (gone || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
      if (isBindingCookie(name) && value) observed.bindings.add(value);
    }
  }

  clone() {
    const jar = new CookieJar();
    for (const [k, v] of this.cookies) jar.cookies.set(k, v);
    return jar;
  }
}

/** One request as a browser would send it, without following redirects. */
export async function browse(jar, url, { method = 'GET', form } = {}) {
  const headers = {};
  const cookie = jar?.header();
  if (cookie) headers.cookie = cookie;
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(url, { method, headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
  jar?.store(res);
  const location = res.headers.get('location');
  return {
    status: res.status,
    headers: res.headers,
    location: location ? new URL(location, url).toString() : undefined,
    html: await res.text(),
    url,
  };
}

/** The link page; on success it has set the browser-binding cookie. */
export async function openLink(jar, redirectUrl) {
  return browse(jar, redirectUrl);
}

/** Submits the link page's Continue form; returns the response (a 302 to the provider on success). */
export async function pressContinue(jar, page) {
  const m = /<form method="post" action="([^"]+)"><button type="submit">Continue to ([^<]+)<\/button>/.exec(page.html);
  assert.ok(m, `the link page has a Continue form:\n${page.html}`);
  const res = await browse(jar, new URL(m[1].replaceAll('&amp;', '&'), page.url).toString(), { method: 'POST', form: {} });
  const state = res.location && new URL(res.location).searchParams.get('state');
  if (state) observed.states.add(state);
  return res;
}

/**
 * Walks the provider from its authorization URL: signs in as `login`, then allows or denies, and
 * stops at the redirect back to authlink's callback, which it returns without following.
 */
export async function authorizeAtProvider(jar, authorizeUrl, { login = `alice_${uniq()}`, decision = 'allow', callbackPrefix = authlinkCallback() } = {}) {
  let url = authorizeUrl;
  let method = 'GET';
  let form;
  for (let hop = 0; hop < 20; hop += 1) {
    if (method === 'GET' && url.startsWith(callbackPrefix)) return url;
    const res = await browse(jar, url, { method, form });
    if (res.location) {
      url = res.location;
      method = 'GET';
      form = undefined;
      continue;
    }
    assert.equal(res.status, 200, `provider page ${url} answered ${res.status}: ${res.html}`);
    const action = (name) => {
      const m = new RegExp(`<form method="post" action="([^"]*/${name})">`).exec(res.html);
      assert.ok(m, `provider page has a ${name} form:\n${res.html}`);
      return new URL(m[1], url).toString();
    };
    if (res.html.includes('name="login"')) {
      url = action('login');
      form = { login, password: 'correct horse' };
    } else if (res.html.includes('>Allow<')) {
      url = action(decision === 'allow' ? 'confirm' : 'abort');
      form = {};
    } else {
      assert.fail(`unexpected provider page at ${url}:\n${res.html}`);
    }
    method = 'POST';
  }
  throw new Error('too many redirects at the provider');
}

/** Delivers the provider's redirect to authlink's callback in the given browser. */
export async function deliverCallback(jar, callbackUrl) {
  return browse(jar, callbackUrl);
}

/**
 * The whole flow in one browser: link page, Continue, provider, callback. Returns every step for
 * assertions.
 */
export async function connectFlow(link, opts = {}) {
  const jar = opts.jar ?? new CookieJar();
  const page = await openLink(jar, link.redirectUrl);
  assert.equal(page.status, 200, `link page: ${page.html}`);
  const cont = await pressContinue(jar, page);
  assert.equal(cont.status, 302, `continue: ${cont.html}`);
  const callbackUrl = await authorizeAtProvider(jar, cont.location, opts);
  const done = await deliverCallback(jar, callbackUrl);
  return { jar, page, cont, callbackUrl, done };
}

/** The query of a redirect's Location as a plain object. */
export function queryOf(location) {
  assert.ok(location, 'a redirect location');
  return Object.fromEntries(new URL(location).searchParams);
}

/** The visible text of a page, for asserting on messages. */
export function textOf(html) {
  return html.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
}

/** The callback URL an app would register: loopback, with a query of its own to keep. */
export const appCallback = (port = 9) => `http://127.0.0.1:${port}/app/connected?from=e2e`;

/** Lists the user's accounts of a toolkit. */
export async function accountsOf(userId, slug) {
  const body = await apiOk('GET', `/connected_accounts?user_ids=${encodeURIComponent(userId)}&toolkit_slugs=${slug}&limit=100`);
  return body.items;
}
