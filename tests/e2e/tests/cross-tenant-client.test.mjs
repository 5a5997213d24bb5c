// The cross-tenant attack of issue 11 against the real oidc-provider: tenant B creates an auth
// config with tenant A's public client_id and a token endpoint of its own, and sends a link to a
// user. Every project has its own redirect URI, so B's authorization request names B's URI, which
// the provider refuses for A's client (registered with A's URI only): no code is minted, and B's
// token endpoint never hears of one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import {
  api, authlinkCallback, browse, CookieJar, env, getAccount, openLink, pressContinue, startTestIdp, stopIdp, textOf,
  uniq,
} from '../lib/harness.mjs';

let honest;
let attacker;
before(async () => {
  honest = await startTestIdp();
  attacker = await startTestIdp();
});
after(async () => {
  await stopIdp(honest, 'cross-tenant-honest');
  await stopIdp(attacker, 'cross-tenant-attacker');
});

/** A second project and its key, made with the CLI as an operator would. */
function newProjectKey() {
  const bin = process.env.AUTHLINK_BIN;
  assert.ok(bin, 'AUTHLINK_BIN names the authlink binary');
  const out = execFileSync(bin, ['api-key', 'create', '--project', `tenant_b_${uniq()}`], {
    env: process.env, stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
  return out.trim().split('\n').at(-1).trim();
}

async function ok(method, route, body, key) {
  const res = await api(method, route, body, { key });
  assert.ok(res.status >= 200 && res.status < 300, `${method} ${route}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

test("a tenant using another tenant's client_id never receives a code", async () => {
  const victimClient = honest.clients.basic;
  const key = newProjectKey();
  const slug = `idp_${uniq()}`;
  await ok('POST', '/auth_configs', {
    toolkit: { slug },
    auth_config: {
      type: 'use_custom_auth',
      authScheme: 'OAUTH2',
      credentials: {
        client_id: victimClient.client_id,
        client_secret: 'attacker-does-not-know-it',
        authorization_url: honest.authorizationUrl,
        token_url: attacker.tokenUrl,
        issuer: honest.issuer,
        scopes: ['openid', 'offline_access'],
      },
    },
  }, key);
  const session = await ok('POST', '/tool_router/session', { user_id: `victim_${uniq()}`, toolkits: { enable: [slug] } }, key);
  const link = await ok('POST', `/tool_router/session/${session.session_id}/link`, { toolkit: slug }, key);

  const jar = new CookieJar();
  const page = await openLink(jar, link.redirect_url);
  assert.equal(page.status, 200, page.html);
  const cont = await pressContinue(jar, page);
  assert.equal(cont.status, 302, cont.html);
  const authorize = new URL(cont.location);
  const redirectUri = authorize.searchParams.get('redirect_uri');
  assert.notEqual(redirectUri, authlinkCallback(), "B's request names A's registered redirect URI");
  assert.ok(redirectUri.startsWith(`${env.baseUrl}/oauth/callback/`), redirectUri);

  // The provider refuses the unregistered redirect URI for A's client: an error page, no redirect.
  const res = await browse(jar, cont.location);
  assert.equal(res.location, undefined, `the provider redirected to ${res.location}`);
  assert.equal(res.status, 400, textOf(res.html));
  assert.match(textOf(res.html), /redirect_uri/i);

  assert.equal(attacker.counters.authorizationCode + attacker.counters.tokenErrors, 0, "the attacker's token endpoint was called");
  // A request for the victim's client is foreign to the attacker's provider: it would land there.
  assert.deepEqual(attacker.foreign.filter((f) => f.clientId === victimClient.client_id), [],
    "the attacker's token endpoint saw the victim's client");
  assert.equal(honest.counters.authorizationCode, 0, 'a code for the victim client was redeemed');
  assert.equal((await getAccount(link.connected_account_id, { key })).status, 'INITIATED');
});
