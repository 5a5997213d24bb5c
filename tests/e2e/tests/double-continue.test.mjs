// Pressing Continue twice never yields two accounts: each press starts its own authorization
// (its own state), but only one can complete the link's one account; the other ends on a page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  accountsOf, appCallback, authorizeAtProvider, CookieJar, createAuthConfig, createLink, deliverCallback, getAccount,
  isBindingCookie, openLink, pressContinue, queryOf, startTestIdp, stopIdp, textOf,
} from '../lib/harness.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'double-continue'));

async function twoAttempts(link, { concurrent }) {
  const jar = new CookieJar();
  const page = await openLink(jar, link.redirectUrl);
  const presses = concurrent
    ? await Promise.all([pressContinue(jar, page), pressContinue(jar, page)])
    : [await pressContinue(jar, page), await pressContinue(jar, page)];
  for (const p of presses) assert.equal(p.status, 302, textOf(p.html));
  const states = presses.map((p) => new URL(p.location).searchParams.get('state'));
  assert.notEqual(states[0], states[1], 'each press has its own state');
  const accounts = await accountsOf(link.userId, link.slug);
  assert.equal(accounts.length, 1, 'pressing Continue creates no account');
  // Both authorizations finish at the provider (each in its own provider session, same binding).
  const callbacks = [];
  for (const p of presses) {
    const provider = jar.clone();
    for (const k of [...provider.cookies.keys()]) if (!isBindingCookie(k)) provider.cookies.delete(k);
    callbacks.push(await authorizeAtProvider(provider, p.location));
  }
  return { jar, callbacks };
}

function assertOneAccount(link, results) {
  const successes = results.filter((r) => r.status === 302 && queryOf(r.location).status === 'success');
  assert.equal(successes.length, 1, `exactly one success: ${results.map((r) => `${r.status} ${r.location ?? textOf(r.html)}`).join(' | ')}`);
  assert.equal(queryOf(successes[0].location).connected_account_id, link.accountId);
  for (const r of results.filter((x) => x !== successes[0])) {
    assert.ok(r.status === 410 || r.status === 400, `the other attempt ends on a page: ${r.status}`);
    assert.equal(r.location, undefined);
  }
}

test('two presses, callbacks one after the other: one account', async () => {
  const config = await createAuthConfig(idp);
  const link = { ...(await createLink(config, { callbackUrl: appCallback() })), slug: config.slug };
  const { jar, callbacks } = await twoAttempts(link, { concurrent: false });
  const before = idp.counters.authorizationCode;

  const results = [await deliverCallback(jar, callbacks[1]), await deliverCallback(jar, callbacks[0])];

  assertOneAccount(link, results);
  assert.equal(idp.counters.authorizationCode, before + 1, 'the late attempt exchanged no code');
  const accounts = await accountsOf(link.userId, link.slug);
  assert.deepEqual(accounts.map((a) => [a.id, a.status]), [[link.accountId, 'ACTIVE']]);
});

test('two presses, callbacks at the same time: one account', async () => {
  const config = await createAuthConfig(idp, { method: 'client_secret_post' });
  const link = { ...(await createLink(config, { callbackUrl: appCallback() })), slug: config.slug };
  const { jar, callbacks } = await twoAttempts(link, { concurrent: true });
  const before = idp.issued.filter((r) => r.grantType === 'authorization_code').length;

  const results = await Promise.all(callbacks.map((c) => deliverCallback(jar, c)));

  assertOneAccount(link, results);
  const accounts = await accountsOf(link.userId, link.slug);
  assert.deepEqual(accounts.map((a) => [a.id, a.status]), [[link.accountId, 'ACTIVE']]);
  const exchanges = idp.issued.filter((r) => r.grantType === 'authorization_code').slice(before);
  assert.ok(exchanges.length >= 1 && exchanges.length <= 2);
  const account = await getAccount(link.accountId); // refreshes the 30 s token with the saved refresh token
  const refresh = idp.issued.at(-1);
  assert.equal(refresh.grantType, 'refresh_token');
  assert.ok(exchanges.some((e) => e.refreshToken === refresh.refreshTokenUsed), 'the saved tokens are from one of the exchanges');
  assert.equal(account.state.val.access_token, refresh.accessToken);
});
