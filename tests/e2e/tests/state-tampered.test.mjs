// A tampered state: a changed or missing `state` finds no sign-in attempt, so nothing is
// exchanged or activated and the user sees a page; the genuine redirect still completes afterwards.
// A tampered code with a genuine state fails at the token endpoint: FAILED, status=failed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appCallback, authorizeAtProvider, CookieJar, createAuthConfig, createLink, deliverCallback, getAccount, openLink,
  pressContinue, queryOf, startTestIdp, stopIdp, textOf,
} from '../lib/harness.mjs';
import { assertPageHeaders } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'state-tampered'));

async function untilCallback(link) {
  const jar = new CookieJar();
  const page = await openLink(jar, link.redirectUrl);
  const cont = await pressContinue(jar, page);
  assert.equal(cont.status, 302);
  return { jar, callbackUrl: await authorizeAtProvider(jar, cont.location) };
}

function withParam(url, name, value) {
  const u = new URL(url);
  if (value === undefined) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
}

const flip = (s) => s.slice(0, -1) + (s.at(-1) === 'A' ? 'B' : 'A');

test('a changed or missing state activates nothing; the genuine one still works', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });
  const { jar, callbackUrl } = await untilCallback(link);
  const state = new URL(callbackUrl).searchParams.get('state');
  assert.ok(state && state.length >= 22, 'state carries at least 128 bits');

  for (const bad of [withParam(callbackUrl, 'state', flip(state)), withParam(callbackUrl, 'state', `${state}x`),
    withParam(callbackUrl, 'state', undefined), withParam(callbackUrl, 'state', '')]) {
    const res = await deliverCallback(jar, bad);
    assert.equal(res.status, 400, `${bad} answered ${res.status}`);
    assert.equal(res.location, undefined);
    assertPageHeaders(res);
    assert.match(textOf(res.html), /cannot be completed/i);
    assert.equal((await getAccount(link.accountId)).status, 'INITIATED');
  }
  assert.equal(idp.counters.authorizationCode + idp.counters.tokenErrors, 0, 'nothing reached the token endpoint');

  const genuine = await deliverCallback(jar, callbackUrl);
  assert.equal(queryOf(genuine.location).status, 'success');
  assert.equal((await getAccount(link.accountId)).status, 'ACTIVE');
});

test('a changed code with the genuine state fails the account', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });
  const { jar, callbackUrl } = await untilCallback(link);
  const code = new URL(callbackUrl).searchParams.get('code');
  const before = idp.counters.authorizationCode;

  const res = await deliverCallback(jar, withParam(callbackUrl, 'code', flip(code)));
  assert.equal(res.status, 302, textOf(res.html));
  const q = queryOf(res.location);
  assert.equal(q.status, 'failed');
  assert.equal(q.error, 'invalid_grant');
  assert.equal(q.connected_account_id, link.accountId);
  const account = await getAccount(link.accountId);
  assert.equal(account.status, 'FAILED');
  assert.match(account.status_reason, /invalid_grant/);
  assert.equal(idp.counters.authorizationCode, before, 'no code was accepted');

  const genuine = await deliverCallback(jar, callbackUrl);
  assert.notEqual(genuine.status, 302, 'the state was used up by the failed attempt');
  assert.equal((await getAccount(link.accountId)).status, 'FAILED');
});
