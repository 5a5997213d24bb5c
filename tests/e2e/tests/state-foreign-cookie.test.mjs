// A state presented by another browser: the provider's redirect (code and state) delivered with a
// different browser-binding cookie, or none, is refused with a page before any code exchange and
// without using up the state; the browser that pressed Continue then completes normally.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appCallback, authorizeAtProvider, CookieJar, createAuthConfig, createLink, deliverCallback, getAccount, openLink,
  pressContinue, queryOf, startTestIdp, stopIdp, textOf,
} from '../lib/harness.mjs';
import { assertPageHeaders } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'state-foreign-cookie'));

test('the callback only completes in the browser that pressed Continue', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });

  const victim = new CookieJar();
  const page = await openLink(victim, link.redirectUrl);
  const cont = await pressContinue(victim, page);
  assert.equal(cont.status, 302);
  const callbackUrl = await authorizeAtProvider(victim, cont.location);

  // Another browser that opened the same link has a binding cookie of its own.
  const other = new CookieJar();
  assert.equal((await openLink(other, link.redirectUrl)).status, 200);
  const [cookieName, genuineCookie] = victim.binding();
  assert.equal(other.binding()[0], cookieName, 'one cookie name per link');
  assert.notEqual(other.binding()[1], genuineCookie);

  const forged = new CookieJar();
  forged.set(cookieName, `${genuineCookie}x`);

  for (const [name, jar] of [['another browser', other], ['no cookie', new CookieJar()], ['altered cookie', forged]]) {
    const res = await deliverCallback(jar, callbackUrl);
    assert.equal(res.status, 400, `${name}: ${res.status} ${textOf(res.html)}`);
    assert.equal(res.location, undefined, `${name}: no redirect`);
    assertPageHeaders(res);
    assert.match(textOf(res.html), /different browser/i, name);
    assert.equal((await getAccount(link.accountId)).status, 'INITIATED', name);
  }
  assert.equal(idp.counters.authorizationCode + idp.counters.tokenErrors, 0, 'nothing reached the token endpoint');

  const genuine = await deliverCallback(victim, callbackUrl);
  assert.equal(queryOf(genuine.location).status, 'success');
  assert.equal((await getAccount(link.accountId)).status, 'ACTIVE');
});
