// The TypeScript SDK (`@composio/core` 0.21.0 on `@composio/client` 2.0.0-rc.6) against a
// running authlink: every call that touches toolkits, auth configs, sessions, links and connected
// accounts, with a real connect flow against the oidc-provider of tests/e2e, walked with the e2e
// harness's HTTP browser (tests/e2e/lib/harness.mjs, `connectFlow`).
//
// Run by tests/sdk/run.sh, which sets AUTHLINK_BASE_URL, AUTHLINK_API_KEY, IDP_INFO,
// SDK_NODE (where @composio/core is installed) and AUTHLINK_E2E_BASE_URL (for the harness).
// Exits non-zero at the first failed step, naming it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { connectFlow, queryOf } from '../e2e/lib/harness.mjs';

const core = await import(pathToFileURL(path.join(process.env.SDK_NODE, 'node_modules/@composio/core/dist/index.mjs')).href);
const { Composio } = core;

const BASE = process.env.AUTHLINK_BASE_URL;
const IDP = JSON.parse(readFileSync(process.env.IDP_INFO, 'utf8'));
const APP_CALLBACK = 'http://127.0.0.1:9/app/connected?from=sdk';
const suffix = randomBytes(4).toString('hex');
const TK = `idp_ts_${suffix}`;
const USER = `user_ts_${suffix}`;
const client = IDP.clients.post;

const composio = new Composio({ apiKey: process.env.AUTHLINK_API_KEY, baseURL: BASE, allowTracking: false });
const counters = async () => (await fetch(IDP.countersUrl)).json();

let count = 0;
async function step(name, fn) {
  count += 1;
  console.log(`ts: ${name}`);
  try {
    await fn();
  } catch (err) {
    console.error(`ts: FAILED at step: ${name}`);
    console.error(err);
    process.exit(1);
  }
}

/** Rejects with an error whose class name (or cause's) and message match. */
async function rejects(promise, className, fragment) {
  let failure;
  try {
    await promise;
  } catch (err) {
    failure = err;
  }
  assert.ok(failure, `expected ${className}`);
  const names = [failure.constructor?.name, failure.cause?.constructor?.name, failure.name];
  assert.ok(names.includes(className), `expected ${className}, got ${names.join('/')}: ${failure.message}`);
  const text = `${failure.message} ${failure.cause?.message ?? ''}`;
  assert.ok(text.includes(fragment), `"${fragment}" not in: ${text}`);
  return failure;
}

function assertActive(a, { userId = USER, toolkit = TK, authConfigId } = {}) {
  assert.equal(a.status, 'ACTIVE');
  assert.match(a.id, /^ca_/);
  assert.equal(a.toolkit.slug, toolkit);
  assert.equal(a.authConfig.id, authConfigId);
  assert.equal(a.authConfig.isComposioManaged, false);
  assert.equal(a.authConfig.isDisabled, false);
  assert.equal(a.isDisabled, false);
  assert.equal(a.userId ?? userId, userId);
  // The SDK drops `state` when its per-scheme schema does not match: ACTIVE needs access_token.
  assert.equal(a.state?.authScheme, 'OAUTH2', `state kept: ${JSON.stringify(a.state)}`);
  assert.equal(a.state.val.status, 'ACTIVE');
  assert.ok(a.state.val.access_token, 'state.val.access_token');
  assert.ok(a.createdAt && a.updatedAt, 'timestamps');
}

const state = {};

// --- toolkits ------------------------------------------------------------------------------------

await step('toolkits.get(slug) on a catalog toolkit', async () => {
  const t = await composio.toolkits.get('github');
  assert.equal(t.slug, 'github');
  assert.equal(t.name, 'GitHub');
  assert.equal(t.isLocalToolkit, false);
  assert.deepEqual(t.composioManagedAuthSchemes, []);
  assert.deepEqual(t.meta.categories, [{ slug: 'developer-tools', name: 'Developer Tools' }]);
  assert.match(t.meta.logo, /^https:\/\//);
  assert.equal(t.meta.toolsCount, 0);
  assert.deepEqual(t.meta.availableVersions, ['latest']);
  assert.equal(t.authConfigDetails.length, 1);
  assert.equal(t.authConfigDetails[0].mode, 'OAUTH2');
  assert.deepEqual(t.authConfigDetails[0].fields.authConfigCreation.required.map((f) => f.name), ['client_id', 'client_secret']);
});

await step('toolkits.get({}) lists the catalog; category filter', async () => {
  const all = await composio.toolkits.get({});
  assert.ok(all.length >= 40, `${all.length} toolkits`);
  const slugs = all.map((t) => t.slug);
  assert.deepEqual(slugs, [...slugs].sort());
  const schemes = ['OAUTH2', 'OAUTH1', 'API_KEY', 'BEARER_TOKEN', 'BASIC'];
  assert.ok(all.every((t) => schemes.includes(t.authSchemes?.[0]) && t.noAuth === false));
  assert.equal(all.find((t) => t.slug === 'openai')?.authSchemes?.[0], 'API_KEY');
  assert.equal(all.find((t) => t.slug === 'evernote')?.authSchemes?.[0], 'OAUTH1');
  const crm = await composio.toolkits.get({ category: 'crm' });
  assert.deepEqual(crm.map((t) => t.slug), [
    'affinity', 'apollo', 'attio', 'capsule_crm', 'close', 'copper', 'freshsales', 'gong', 'highlevel', 'hubspot',
    'hunter', 'keap', 'outreach', 'pipedrive', 'salesforce', 'salesloft', 'shopify', 'teamleader', 'zendesk',
    'zendesk_sell', 'zoho', 'zoho_bigin',
  ]);
  assert.deepEqual(crm[0].meta.categories, [{ slug: 'crm', name: 'CRM' }]);
});

await step('toolkits.getMany', async () => {
  const got = await composio.toolkits.getMany(['slack', 'github', 'nope']);
  assert.deepEqual(got.map((t) => t.slug), ['github', 'slack']);
});

await step('toolkits.listCategories', async () => {
  const cats = await composio.toolkits.listCategories();
  assert.deepEqual(cats.items.slice(3, 5), [{ id: 'communication', name: 'Communication' }, { id: 'crm', name: 'CRM' }]);
  assert.equal(cats.nextCursor, null);
  assert.equal(cats.totalPages, 1);
});

await step('toolkits.getAuthConfigCreationFields / getConnectedAccountInitiationFields', async () => {
  const fields = await composio.toolkits.getAuthConfigCreationFields('github', 'OAUTH2', { requiredOnly: true });
  assert.deepEqual(fields.map((f) => [f.name, f.displayName, f.type, f.required, f.isSecret]), [
    ['client_id', 'Client ID', 'string', true, false],
    ['client_secret', 'Client Secret', 'string', true, true],
  ]);
  const all = await composio.toolkits.getAuthConfigCreationFields('github', 'OAUTH2');
  assert.ok(all.some((f) => f.name === 'revocation_url' && f.required === false));
  assert.deepEqual(await composio.toolkits.getConnectedAccountInitiationFields('github', 'OAUTH2'), []);
});

await step('toolkits.get on an unknown toolkit: ComposioToolkitNotFoundError', async () => {
  await rejects(composio.toolkits.get('no_such_toolkit_x'), 'ComposioToolkitNotFoundError', 'no_such_toolkit_x');
});

await step('toolkits.changelog / recommendScopes / listGrantContexts: the clear 400 (no tools)', async () => {
  await rejects(composio.toolkits.changelog(), 'BadRequestError', 'serves no tools');
  // `@composio/client` rc.6 (the override rc.8's absence forces) lacks the two scope methods: the
  // SDK fails before sending anything, whatever the server (the Python journey reaches authlink).
  await rejects(composio.toolkits.recommendScopes('github', { tools: ['GITHUB_GET_A_REPO'] }), 'TypeError', 'recommendScopes is not a function');
  await rejects(composio.toolkits.listGrantContexts('github'), 'TypeError', 'retrieveScopesGrantContext is not a function');
});

// --- auth configs --------------------------------------------------------------------------------

await step('authConfigs.create (use_custom_auth, OAUTH2, client_secret_post)', async () => {
  const ac = await composio.authConfigs.create(TK, {
    type: 'use_custom_auth',
    authScheme: 'OAUTH2',
    name: 'IdP (ts)',
    credentials: {
      client_id: client.client_id,
      client_secret: client.client_secret,
      authorization_url: IDP.authorizationUrl,
      token_url: IDP.tokenUrl,
      client_auth: 'client_secret_post',
      issuer: IDP.issuer,
      // The SDK's credentials schema takes strings, numbers and booleans only: scopes joined.
      scopes: 'openid offline_access',
    },
  });
  assert.match(ac.id, /^ac_/);
  assert.equal(ac.authScheme, 'OAUTH2');
  assert.equal(ac.isComposioManaged, false);
  state.ac = ac.id;
});

await step('authConfigs.create with use_composio_managed_auth: the clear 400', async () => {
  await rejects(composio.authConfigs.create('github', { type: 'use_composio_managed_auth' }), 'BadRequestError', 'authlink manages no OAuth apps');
});

await step('toolkits.get on the custom toolkit', async () => {
  const t = await composio.toolkits.get(TK);
  assert.equal(t.slug, TK);
  assert.equal(t.name, TK);
  assert.deepEqual(t.authConfigDetails[0].fields.authConfigCreation.required.map((f) => f.name),
    ['client_id', 'client_secret', 'authorization_url', 'token_url']);
});

await step('authConfigs.get / list', async () => {
  const ac = await composio.authConfigs.get(state.ac);
  assert.equal(ac.id, state.ac);
  assert.equal(ac.name, 'IdP (ts)');
  assert.equal(ac.status, 'ENABLED');
  assert.equal(ac.toolkit.slug, TK);
  assert.equal(ac.noOfConnections, 0);
  assert.equal(ac.isComposioManaged, false);
  assert.ok(!JSON.stringify(ac).includes(client.client_secret), 'the secret is never returned');
  const list = await composio.authConfigs.list({ toolkit: TK });
  assert.deepEqual(list.items.map((i) => i.id), [state.ac]);
  assert.equal(list.totalPages, 1);
});

await step('authConfigs.update (custom: credentials with revocation_url; secret kept)', async () => {
  const r = await composio.authConfigs.update(state.ac, {
    type: 'custom',
    credentials: { scopes: 'openid,offline_access', revocation_url: IDP.revocationUrl },
  });
  assert.equal(r.success, true);
  const ac = await composio.authConfigs.get(state.ac);
  assert.equal(ac.credentials.revocation_url, IDP.revocationUrl);
  assert.equal(ac.credentials.client_id, client.client_id);
});

await step('authConfigs.update with type default: the clear 400', async () => {
  await rejects(composio.authConfigs.update(state.ac, { type: 'default', scopes: 'x' }), 'BadRequestError', 'manages no OAuth apps');
});

await step('authConfigs.disable / enable / updateStatus', async () => {
  assert.equal((await composio.authConfigs.disable(state.ac)).success, true);
  assert.equal((await composio.authConfigs.get(state.ac)).status, 'DISABLED');
  assert.equal((await composio.authConfigs.enable(state.ac)).success, true);
  assert.equal((await composio.authConfigs.updateStatus('ENABLED', state.ac)).success, true);
  assert.equal((await composio.authConfigs.get(state.ac)).status, 'ENABLED');
});

// --- the central journey -------------------------------------------------------------------------

await step('composio.create(userId, {toolkits, authConfigs, manageConnections})', async () => {
  const session = await composio.create(USER, {
    toolkits: [TK],
    authConfigs: { [TK]: state.ac },
    manageConnections: { callbackUrl: APP_CALLBACK },
  });
  assert.match(session.sessionId, /^trs_/);
  assert.equal(session.mcp.url, `${BASE}/tool_router/${session.sessionId}/mcp`);
  state.session = session;
});

await step('composio.use(sessionId)', async () => {
  const again = await composio.use(state.session.sessionId);
  assert.equal(again.sessionId, state.session.sessionId);
});

await step('session.toolkits(): not connected yet', async () => {
  const { items } = await state.session.toolkits();
  const item = items.find((i) => i.slug === TK);
  assert.equal(item.connection.isActive, false);
});

await step('session.authorize -> INITIATED with state.val.redirectUrl', async () => {
  const req = await state.session.authorize(TK);
  assert.match(req.id, /^ca_/);
  assert.equal(req.status, 'INITIATED');
  assert.match(req.redirectUrl, /\/link\/ln_/);
  const a = await composio.connectedAccounts.get(req.id);
  assert.equal(a.status, 'INITIATED');
  assert.deepEqual(a.state, { authScheme: 'OAUTH2', val: { status: 'INITIATED', redirectUrl: req.redirectUrl } });
  const list = await composio.connectedAccounts.list({ userIds: [USER], statuses: ['INITIATED'] });
  assert.deepEqual(list.items[0].state, a.state, 'list items keep state too');
  state.req = req;
});

await step('connect flow at the real provider, waitForConnection -> ACTIVE', async () => {
  const { done } = await connectFlow({ redirectUrl: state.req.redirectUrl }, { login: `bob_${suffix}` });
  assert.equal(done.status, 302, done.html);
  const q = queryOf(done.location);
  assert.deepEqual(q, { from: 'sdk', status: 'success', connected_account_id: state.req.id });
  const account = await state.req.waitForConnection(30000);
  assertActive(account, { authConfigId: state.ac });
  state.ca = account.id;
});

await step('session.toolkits(): connected', async () => {
  const { items } = await state.session.toolkits();
  const item = items.find((i) => i.slug === TK);
  assert.equal(item.connection.isActive, true);
  assert.equal(item.connection.connectedAccount.id, state.ca);
  assert.equal(item.connection.authConfig.id, state.ac);
});

await step('connectedAccounts.get / list (ACTIVE: access_token in get and list items)', async () => {
  assertActive(await composio.connectedAccounts.get(state.ca), { authConfigId: state.ac });
  const list = await composio.connectedAccounts.list({ userIds: [USER], toolkitSlugs: [TK], statuses: ['ACTIVE'] });
  assert.deepEqual(list.items.map((i) => i.id), [state.ca]);
  assertActive(list.items[0], { authConfigId: state.ac });
  assert.equal(list.totalPages, 1);
});

await step('connectedAccounts.refresh', async () => {
  const before = (await counters()).refresh;
  const r = await composio.connectedAccounts.refresh(state.ca);
  assert.equal(r.status, 'ACTIVE');
  assert.equal((await counters()).refresh, before + 1);
});

await step('connectedAccounts.disable / enable / update({enabled}) / updateStatus', async () => {
  assert.equal((await composio.connectedAccounts.disable(state.ca)).success, true);
  assert.equal((await composio.connectedAccounts.get(state.ca)).isDisabled, true);
  await rejects(composio.connectedAccounts.refresh(state.ca), 'BadRequestError', 'disabled');
  assert.equal((await composio.connectedAccounts.enable(state.ca)).success, true);
  assert.equal((await composio.connectedAccounts.get(state.ca)).isDisabled, false);
  assert.equal((await composio.connectedAccounts.update(state.ca, { enabled: false })).success, true);
  assert.equal((await composio.connectedAccounts.get(state.ca)).isDisabled, true);
  assert.equal((await composio.connectedAccounts.updateStatus(state.ca, { enabled: true })).success, true);
  assert.equal((await composio.connectedAccounts.get(state.ca)).isDisabled, false);
});

await step('connectedAccounts.link: refused while ACTIVE, allowMultiple; delete', async () => {
  await rejects(composio.connectedAccounts.link(USER, state.ac), 'ComposioMultipleConnectedAccountsError', 'Multiple connected accounts');
  const req = await composio.connectedAccounts.link(USER, state.ac, { callbackUrl: APP_CALLBACK, allowMultiple: true });
  assert.match(req.id, /^ca_/);
  assert.match(req.redirectUrl, /\/link\/ln_/);
  const r = await composio.connectedAccounts.delete(req.id);
  assert.equal(r.success, true);
  await rejects(composio.connectedAccounts.get(req.id), 'NotFoundError', 'ConnectedAccount_NotFound');
});

await step('connectedAccounts.initiate / toolkits.authorize (legacy create)', async () => {
  const req = await composio.connectedAccounts.initiate(USER, state.ac, { allowMultiple: true, callbackUrl: APP_CALLBACK });
  assert.match(req.id, /^ca_/);
  assert.match(req.redirectUrl, /\/link\/ln_/);
  const req2 = await composio.toolkits.authorize(`${USER}_2`, TK);
  assert.match(req2.id, /^ca_/);
  assert.match(req2.redirectUrl, /\/link\/ln_/);
  await composio.connectedAccounts.delete(req.id);
  await composio.connectedAccounts.delete(req2.id);
});

await step('toolkits.authorize for a catalog toolkit without an auth config: clear error', async () => {
  await rejects(composio.toolkits.authorize(USER, 'github'), 'ComposioAuthConfigNotFoundError', 'github');
});

await step('connectedAccounts.revoke: RFC 7009 at the provider, REVOKED, idempotent; 409 otherwise', async () => {
  const before = (await counters()).revocations;
  const r = await composio.connectedAccounts.revoke(state.ca);
  assert.deepEqual(r, { revokedTokens: ['refresh_token', 'access_token'], connectedAccount: { id: state.ca, status: 'REVOKED' } });
  assert.ok((await counters()).revocations > before, 'the provider saw the revocation');
  const a = await composio.connectedAccounts.get(state.ca);
  assert.equal(a.status, 'REVOKED');
  assert.deepEqual(a.state, { authScheme: 'OAUTH2', val: { status: 'REVOKED' } });
  const again = await composio.connectedAccounts.revoke(state.ca);
  assert.deepEqual(again.revokedTokens, []);
  const pending = await state.session.authorize(TK);
  await rejects(composio.connectedAccounts.revoke(pending.id), 'ComposioConnectedAccountNotRevokableError', 'INITIATED');
  state.pending = pending.id;
});

await step('session.authorize for a toolkit without an auth config: the clear 400', async () => {
  const s = await composio.create(USER, { toolkits: ['github'] });
  await rejects(s.authorize('github'), 'BadRequestError', 'ToolRouterV2_NoManagedAuth');
});

await step('API key, bearer and basic accounts: created through the API, get keeps the zod-checked state', async () => {
  const headers = { 'x-api-key': process.env.AUTHLINK_API_KEY, 'content-type': 'application/json' };
  const post = async (p, body) => {
    const r = await fetch(`${BASE}/api/v3.1/${p}`, { method: 'POST', headers, body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.clone().text());
    return r.json();
  };
  const cases = [
    ['openai', 'API_KEY', { api_key: 'sk-tsJourneyKey0123456789abcdef' }],
    ['huggingface', 'BEARER_TOKEN', { token: 'hf_tsJourneyToken0123456789' }],
    ['twilio', 'BASIC', { username: `AC${'0123456789abcdef'.repeat(2)}`, password: 'ts-auth-token' }],
  ];
  for (const [slug, scheme, val] of cases) {
    const ac = await post('auth_configs', { toolkit: { slug }, auth_config: { type: 'use_custom_auth', authScheme: scheme } });
    const created = await post('connected_accounts', {
      auth_config: { id: ac.auth_config.id },
      connection: { user_id: USER, state: { authScheme: scheme, val } },
    });
    const a = await composio.connectedAccounts.get(created.id);
    assert.equal(a.status, 'ACTIVE');
    assert.deepEqual(a.state, { authScheme: scheme, val: { status: 'ACTIVE', ...val } }, `state kept: ${JSON.stringify(a.state)}`);
    await composio.connectedAccounts.delete(created.id);
    await composio.authConfigs.delete(ac.auth_config.id);
  }
});

await step('authConfigs.delete takes its accounts with it', async () => {
  const r = await composio.authConfigs.delete(state.ac);
  assert.equal(r.success, true);
  for (const id of [state.ca, state.pending]) {
    await rejects(composio.connectedAccounts.get(id), 'NotFoundError', id);
  }
  await rejects(composio.authConfigs.get(state.ac), 'NotFoundError', state.ac);
});

console.log(`ts: all ${count} steps passed`);
