// Signed webhooks with real parts: authlink (two processes on one database, both running the
// delivery worker), panva's oidc-provider, and a receiver that checks every delivery with the
// `standardwebhooks` package and Composio's `verify_webhook` (receiver.py). A connection's whole
// life arrives: initiated → active (and a background refresh, unasked), a denied consent →
// failed, an unfinished link → expired, a revoked refresh token → refresh_failed and expired, a
// reconnect as another provider user → refused, as the same user → recovered, disable, enable,
// revoke, delete → deleted.
// Then the receiver goes down for AUTHLINK_WH_DOWN_SECS (default 20 s) and comes back: every
// event arrives, repeats only under the same webhook-id, and no attempt is ever sent twice.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  api, apiOk, appCallback, connectFlow, createAuthConfig, createLink, env, getAccount, queryOf, startTestIdp, stopIdp,
} from '../../e2e/lib/harness.mjs';
import {
  assertAllVerifiedOnce, killReceiver, received, receiverUrl, setSecrets, startReceiver, typesOf, waitFor,
} from '../lib/webhooks.mjs';

const DOWN_SECS = Number(process.env.AUTHLINK_WH_DOWN_SECS || 20);
const ALL = ['initiated', 'active', 'failed', 'expired', 'refresh_failed', 'recovered', 'revoked', 'deleted',
  'disabled', 'enabled'].map((e) => `composio.connected_account.${e}`);

let idp;
let receiver;
let subscription;
let expiring; // a link made through the 30 s-TTL instance, checked at the end

before(async () => {
  idp = await startTestIdp();
  receiver = await startReceiver();
  subscription = await apiOk('POST', '/webhook_subscriptions', { webhook_url: receiverUrl(), enabled_events: ALL });
  setSecrets([subscription.secret]);
});

after(async () => {
  if (receiver) await killReceiver(receiver).catch(() => {});
  await stopIdp(idp, 'webhooks');
});

const hasTypes = (account, types) => (got) => types.every((t) => typesOf(got, account).includes(t));

test('a connection\'s whole life arrives, signed, in Composio\'s V3 envelope', async () => {
  const config = await createAuthConfig(idp);
  expiring = await createLink(config, { base: env.shortBaseUrl, callbackUrl: appCallback() });

  // initiated → active, then a refresh nobody asked for (the code-grant token lives 30 s, inside
  // AUTHLINK_REFRESH_AHEAD_SECS): the sweeper does it.
  const refreshesBefore = idp.issued.filter((r) => r.grantType === 'refresh_token').length;
  const ok = await createLink(config, { callbackUrl: appCallback() });
  const login = `alice_${Date.now()}`;
  const flow = await connectFlow(ok, { login });
  assert.equal(queryOf(flow.done.location).status, 'success');
  await waitFor(hasTypes(ok.accountId, ['initiated', 'active']), 'initiated and active');
  const until = Date.now() + 20000;
  while (idp.issued.filter((r) => r.grantType === 'refresh_token').length === refreshesBefore) {
    assert.ok(Date.now() < until, 'the background sweeper never refreshed the new account');
    await new Promise((r) => setTimeout(r, 200));
  }
  const refreshed = await getAccount(ok.accountId);
  assert.equal(refreshed.status, 'ACTIVE');
  const lastRefresh = idp.issued.filter((r) => r.grantType === 'refresh_token').at(-1);
  assert.equal(refreshed.state.val.access_token, lastRefresh.accessToken, 'the read got the sweeper\'s token');

  // A denied consent → failed.
  const denied = await createLink(config, { callbackUrl: appCallback() });
  const no = await connectFlow(denied, { decision: 'deny' });
  assert.equal(queryOf(no.done.location).status, 'failed');
  await waitFor(hasTypes(denied.accountId, ['initiated', 'failed']), 'failed');

  // The provider revokes the refresh token → refresh_failed, expired.
  await idp.revoke(refreshed.state.val.refresh_token, idp.clients.basic);
  const forced = await api('POST', `/connected_accounts/${ok.accountId}/refresh`);
  assert.equal(forced.status, 400, forced.text);
  await waitFor(hasTypes(ok.accountId, ['refresh_failed', 'expired']), 'refresh_failed and expired');
  assert.equal((await getAccount(ok.accountId)).status, 'EXPIRED');

  // Reconnect as another provider user: refused, the account unchanged.
  const reconnect = async (userLogin) => {
    const link = await apiOk('POST', `/tool_router/session/${ok.sessionId}/link`,
      { toolkit: config.slug, callback_url: appCallback(), connected_account_id: ok.accountId });
    assert.equal(link.connected_account_id, ok.accountId);
    const r = await connectFlow({ ...ok, redirectUrl: link.redirect_url }, { login: userLogin });
    return queryOf(r.done.location);
  };
  const refused = await reconnect(`mallory_${Date.now()}`);
  assert.equal(refused.status, 'failed');
  assert.equal(refused.error, 'identity_mismatch');
  assert.equal((await getAccount(ok.accountId)).status, 'EXPIRED');

  // The same user again: recovered, same id, alias and all.
  const back = await reconnect(login);
  assert.equal(back.status, 'success');
  assert.equal(back.connected_account_id, ok.accountId);
  await waitFor(hasTypes(ok.accountId, ['recovered']), 'recovered');
  assert.equal((await getAccount(ok.accountId)).status, 'ACTIVE');

  // Disable → disabled, enable → enabled, revoke (RFC 7009 at oidc-provider) → revoked.
  await apiOk('PATCH', `/connected_accounts/${ok.accountId}/status`, { enabled: false });
  await waitFor(hasTypes(ok.accountId, ['disabled']), 'disabled');
  await apiOk('PATCH', `/connected_accounts/${ok.accountId}/status`, { enabled: true });
  await waitFor(hasTypes(ok.accountId, ['enabled']), 'enabled');
  await apiOk('PATCH', `/auth_configs/${config.authConfigId}`,
    { credentials: { revocation_url: `${idp.issuer}/token/revocation` } });
  const revoked = await apiOk('POST', `/connected_accounts/${ok.accountId}/revoke`);
  assert.equal(revoked.connected_account.status, 'REVOKED');
  assert.ok(revoked.revoked_tokens.includes('refresh_token'), JSON.stringify(revoked));
  await waitFor(hasTypes(ok.accountId, ['revoked']), 'revoked');

  // Delete → deleted.
  await apiOk('DELETE', `/connected_accounts/${ok.accountId}`);
  const got = await waitFor(hasTypes(ok.accountId, ['deleted']), 'deleted');
  const life = typesOf(got, ok.accountId);
  for (const t of ['initiated', 'active', 'refresh_failed', 'expired', 'recovered', 'disabled', 'enabled', 'revoked',
    'deleted']) {
    assert.ok(life.includes(t), `${t} missing from ${life}`);
  }
  const last = got.filter((r) => r.account === ok.accountId && r.type.endsWith('.deleted')).at(-1);
  assert.equal(last.user_id, ok.userId);
});

test(`the receiver down for ${DOWN_SECS} s, then back: every event arrives`, async () => {
  await killReceiver(receiver);
  receiver = undefined;
  const config = await createAuthConfig(idp);
  const links = [];
  for (let i = 0; i < 3; i += 1) links.push(await createLink(config, { callbackUrl: appCallback() }));
  await apiOk('DELETE', `/connected_accounts/${links[0].accountId}`);
  await new Promise((r) => setTimeout(r, DOWN_SECS * 1000));
  receiver = await startReceiver();
  await waitFor((got) => links.every((l) => typesOf(got, l.accountId).includes('initiated'))
    && typesOf(got, links[0].accountId).includes('deleted'), 'the events sent while the receiver was down', 60000);

  // The delivery log says the same: failed attempts first, then one that succeeded.
  const log = await apiOk('GET', `/webhook_subscriptions/${subscription.id}/deliveries?limit=100`);
  const mine = log.items.filter((d) => d.connected_account_id === links[1].accountId);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].status, 'DELIVERED');
  assert.ok(mine[0].attempts.length >= 2, `retried: ${JSON.stringify(mine[0].attempts)}`);
  assert.ok(mine[0].attempts.slice(0, -1).every((a) => !a.success && a.response_status === null && a.error));
  assert.ok(mine[0].attempts.at(-1).success);
});

test('an unfinished link expires and says so', async () => {
  const got = await waitFor(hasTypes(expiring.accountId, ['initiated', 'expired']), 'the link\'s expiry', 60000);
  const expired = got.find((r) => r.account === expiring.accountId && r.type.endsWith('.expired'));
  assert.equal(expired.status, 'EXPIRED');
  assert.match(expired.status_reason, /expired/);
});

test('every delivery verified by both libraries; no attempt sent twice across two processes', async () => {
  const got = received();
  assertAllVerifiedOnce(got);
  // Repeats only under the same webhook-id: one id is always one event.
  const byId = new Map();
  for (const r of got) {
    const seen = byId.get(r.webhook_id);
    if (seen) assert.deepEqual([seen.type, seen.account], [r.type, r.account], `webhook-id ${r.webhook_id} reused`);
    else byId.set(r.webhook_id, r);
  }
  assert.ok(got.length >= 12, `expected the suite's deliveries, got ${got.length}`);
});
