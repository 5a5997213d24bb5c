// authlink's MCP endpoints with the official clients, against the running authlink that run.sh
// started: the TypeScript SDK (@modelcontextprotocol/sdk), the MCP Inspector's CLI, the Python
// `mcp` package and Composio's Python SDK (through clients.py). Links are completed in the real
// flow against oidc-provider, with the e2e suite's provider: by its fetch-based browser, and the
// agent's journey (manage on mcp.url, the user connects, wait) in headless Chromium.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
  apiOk, connectFlow, createAuthConfig, env, getAccount, startTestIdp, stopIdp, uniq,
} from '../e2e/lib/harness.mjs';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
// playwright-core comes with the e2e suite's packages (run.sh installs them).
const { chromium } = createRequire(path.join(HERE, '../e2e/package.json'))('playwright-core');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const SEED_PATH = path.join(HERE, '../../assets/mcp/tool_router.session.link.create.input-schema.json');
const SEED_TEXT = readFileSync(SEED_PATH, 'utf8');
const SEED = JSON.parse(SEED_TEXT);
const MANAGEMENT_TOOLS = [
  'tool_router.session.link.create', 'tool_router.session.create', 'tool_router.session.get',
  'tool_router.session.delete', 'connected_accounts.get', 'connected_accounts.list',
  'connected_accounts.delete', 'auth_configs.list', 'toolkits.list',
];
const META_TOOLS = ['COMPOSIO_MANAGE_CONNECTIONS', 'COMPOSIO_WAIT_FOR_CONNECTIONS'];

let idp;
let toolkit;
/** Link tokens and access tokens the tests saw: run.sh checks that none is in authlink's log. */
const secrets = new Set();

before(async () => {
  idp = await startTestIdp();
  ({ slug: toolkit } = await createAuthConfig(idp));
});

after(async () => {
  for (const issued of idp.issued) {
    for (const key of ['accessToken', 'refreshToken', 'code']) if (issued[key]) secrets.add(issued[key]);
  }
  writeFileSync(path.join(env.stateDir, 'mcp-secrets.json'), JSON.stringify([...secrets]));
  await stopIdp(idp, 'mcp');
});

/** A session of a new user enabling the test toolkit, with the wait tool on. */
async function newSession() {
  return apiOk('POST', '/tool_router/session', {
    user_id: `user_${uniq()}`,
    toolkits: { enable: [toolkit] },
    manage_connections: { enable: true, enable_wait_for_connections: true },
  });
}

async function connectTs(url) {
  const client = new Client({ name: 'authlink-mcp-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { 'x-api-key': env.apiKey } },
  });
  await client.connect(transport);
  assert.equal(client.getServerVersion().name, 'authlink');
  assert.equal(transport.protocolVersion, '2025-11-25');
  assert.ok(client.getServerCapabilities().tools);
  return client;
}

/** Completes a link in the browser flow and checks the account became ACTIVE. */
async function complete(redirectUrl, accountId) {
  secrets.add(new URL(redirectUrl).pathname.split('/').pop());
  const { done } = await connectFlow({ redirectUrl });
  // Back to the link's callback_url (302), or authlink's own "connected" page when it has none.
  assert.ok(done.status === 302 || /is connected/.test(done.html), `callback: ${done.status} ${done.html}`);
  const account = await getAccount(accountId);
  assert.equal(account.status, 'ACTIVE', JSON.stringify(account));
}

/**
 * Completes a link as its user would: Debian's Chromium opens it, presses Continue, signs in and
 * allows at oidc-provider, and lands on authlink's "connected" page (the link has no callback).
 */
async function completeInChromium(redirectUrl, accountId) {
  secrets.add(new URL(redirectUrl).pathname.split('/').pop());
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await (await browser.newContext()).newPage();
    assert.equal((await page.goto(redirectUrl)).status(), 200);
    await page.getByRole('button', { name: new RegExp(`^Continue to ${toolkit}`) }).click();
    await page.waitForURL((u) => u.href.startsWith(`${idp.issuer}/interaction/`));
    await page.getByLabel('Login').fill(`mcp-user-${uniq()}`);
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${env.baseUrl}/oauth/callback`));
    assert.match(await page.locator('main').innerText(), /is connected/);
  } finally {
    await browser.close();
  }
  const account = await getAccount(accountId);
  assert.equal(account.status, 'ACTIVE', JSON.stringify(account));
}

function structured(result, what) {
  assert.notEqual(result.isError, true, `${what}: ${JSON.stringify(result)}`);
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent, `${what}: text vs structured`);
  return result.structuredContent;
}

test('TypeScript SDK: management endpoint, the seed schema, and a link completed for real', async () => {
  const client = await connectTs(`${env.baseUrl}/mcp`);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), MANAGEMENT_TOOLS);
    assert.deepEqual(tools[0].inputSchema, SEED);
    assert.equal(JSON.stringify(tools[0].inputSchema), JSON.stringify(SEED), 'same keys in the same order');
    for (const t of tools) {
      assert.ok(t.description && t.outputSchema?.type === 'object', t.name);
    }
    const session = await newSession();
    // The SDK validates structuredContent against each tool's outputSchema (Ajv).
    const link = structured(await client.callTool({
      name: 'tool_router.session.link.create',
      arguments: { session_id: session.session_id, toolkit, callback_url: 'http://127.0.0.1:9/app/mcp' },
    }), 'link');
    assert.match(link.link_token, /^ln_/);
    assert.equal(link.redirect_url, `${env.baseUrl}/link/${link.link_token}`);
    const bad = await client.callTool({ name: 'tool_router.session.link.create', arguments: { session_id: session.session_id } });
    assert.equal(bad.isError, true);
    const { error } = JSON.parse(bad.content[0].text);
    assert.equal(error.slug, 'ToolRouterV2_BadRequest');
    assert.match(error.message, /toolkit: is required/);
    await complete(link.redirect_url, link.connected_account_id);
    const got = structured(await client.callTool({
      name: 'connected_accounts.get', arguments: { connected_account_id: link.connected_account_id },
    }), 'get');
    assert.equal(got.status, 'ACTIVE');
    await assert.rejects(client.callTool({ name: 'COMPOSIO_MANAGE_CONNECTIONS', arguments: {} }), /Unknown tool/);
  } finally {
    await client.close();
  }
});

test("TypeScript SDK: a session's mcp.url, COMPOSIO_MANAGE_CONNECTIONS, then wait until ACTIVE", async () => {
  const session = await newSession();
  assert.deepEqual(session.tool_router_tools, META_TOOLS);
  const client = await connectTs(session.mcp.url);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), META_TOOLS);
    const out = structured(await client.callTool({ name: 'COMPOSIO_MANAGE_CONNECTIONS', arguments: { toolkits: [toolkit] } }), 'manage');
    const result = out.data.results[toolkit];
    assert.equal(result.status, 'INITIATED', JSON.stringify(out));
    const waiting = client.callTool(
      { name: 'COMPOSIO_WAIT_FOR_CONNECTIONS', arguments: { toolkits: [toolkit], timeout_seconds: 20 } },
      undefined,
      { timeout: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    await completeInChromium(result.redirect_url, result.connected_account_id);
    const waited = structured(await waiting, 'wait');
    assert.equal(waited.data.completed, true, JSON.stringify(waited));
    assert.equal(waited.data.results[toolkit].status, 'ACTIVE');
    assert.equal(waited.data.results[toolkit].connected_account_id, result.connected_account_id);
  } finally {
    await client.close();
  }
});

test("MCP Inspector CLI lists both endpoints' tools", async () => {
  const session = await newSession();
  const inspector = path.join(HERE, 'node_modules/.bin/mcp-inspector');
  for (const [url, expected] of [[`${env.baseUrl}/mcp`, MANAGEMENT_TOOLS], [session.mcp.url, META_TOOLS]]) {
    const { stdout } = await run(inspector, [
      '--cli', url, '--transport', 'http', '--header', `x-api-key: ${env.apiKey}`, '--method', 'tools/list',
    ], { env: { ...process.env, MCP_CATALOG_PATH: path.join(env.stateDir, `inspector-${uniq()}.json`) }, timeout: 60_000 });
    const listed = JSON.parse(stdout);
    assert.deepEqual(listed.tools.map((t) => t.name), expected, stdout);
    if (expected === MANAGEMENT_TOOLS) assert.deepEqual(listed.tools[0].inputSchema, SEED);
  }
});

async function python(...args) {
  const { stdout } = await run(env.python, [path.join(HERE, 'clients.py'), ...args], { timeout: 90_000 })
    .catch((e) => { throw new Error(`clients.py ${args[0]} failed:\n${e.stdout}\n${e.stderr}`); });
  return JSON.parse(stdout.trim().split('\n').pop());
}

test('Python mcp package: management link completed for real, then manage and wait on mcp.url', async () => {
  const session = await newSession();
  const link = await python('mcp-management', env.baseUrl, env.apiKey, session.session_id, toolkit, SEED_PATH);
  await complete(link.redirect_url, link.connected_account_id);

  const other = await newSession();
  const result = await python('mcp-manage', other.mcp.url, env.apiKey, toolkit);
  await complete(result.redirect_url, result.connected_account_id);
  const waited = await python('mcp-wait', other.mcp.url, env.apiKey, toolkit);
  assert.equal(waited.connected_account_id, result.connected_account_id);
});

test("composio SDK: session.tools() and the agent's meta tool calls connect the user", async () => {
  const session = await newSession();
  const result = await python('sdk-manage', env.baseUrl, env.apiKey, session.session_id, toolkit);
  await complete(result.redirect_url, result.connected_account_id);
  const waited = await python('sdk-wait', env.baseUrl, env.apiKey, session.session_id, toolkit);
  assert.equal(waited.connected_account_id, result.connected_account_id);
});

test("@composio/core: session.tools() and the agent's meta tool calls connect the user", async () => {
  const { Composio } = await import('@composio/core');
  const composio = new Composio({ apiKey: env.apiKey, baseURL: env.baseUrl, allowTracking: false });
  const session = await composio.create(`user_${uniq()}`, {
    toolkits: [toolkit],
    manageConnections: { enable: true, waitForConnections: true },
  });
  assert.equal(session.mcp.url, `${env.baseUrl}/tool_router/${session.sessionId}/mcp`);
  const tools = await session.tools();
  const names = tools.map((t) => t.function?.name ?? t.name).sort();
  assert.deepEqual(names, META_TOOLS, JSON.stringify(tools));
  const manage = await session.execute('COMPOSIO_MANAGE_CONNECTIONS', { toolkits: [toolkit] });
  assert.equal(manage.error ?? null, null, JSON.stringify(manage));
  const result = manage.data.results[toolkit];
  assert.equal(result.status, 'INITIATED', JSON.stringify(manage));
  await complete(result.redirect_url, result.connected_account_id);
  const waited = await session.execute('COMPOSIO_WAIT_FOR_CONNECTIONS', { toolkits: [toolkit], timeout_seconds: 20 });
  assert.equal(waited.data.results[toolkit].status, 'ACTIVE', JSON.stringify(waited));
});
