// An expired link. Links come from the second authlink (AUTHLINK_LINK_TTL_SECS=30, same database
// and public URL), so they expire 30 s after creation without touching the database directly.
// After expiry the link page says so (410), Continue starts nothing, and the account reads EXPIRED
// with a status_reason. A sign-in started before expiry and finished after it activates nothing.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import {
  appCallback, authorizeAtProvider, browse, CookieJar, createAuthConfig, createLink, deliverCallback, env, getAccount,
  openLink, pressContinue, startTestIdp, stopIdp, textOf,
} from '../lib/harness.mjs';
import { assertPageHeaders } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'expired-link'));

test('a link past its TTL is expired: page, Continue, account, late callback', async () => {
  const config = await createAuthConfig(idp);
  const created = Date.now();
  const untouched = await createLink(config, { callbackUrl: appCallback(), base: env.shortBaseUrl });
  const started = await createLink(config, { callbackUrl: appCallback(), base: env.shortBaseUrl });
  assert.ok(untouched.redirectUrl.startsWith(`${env.baseUrl}/link/`), 'links lead to the main instance');

  // Before the TTL: the page works; the second link gets as far as the provider's redirect back.
  const jar = new CookieJar();
  const page = await openLink(jar, untouched.redirectUrl);
  assert.equal(page.status, 200, textOf(page.html));
  const startedJar = new CookieJar();
  const cont = await pressContinue(startedJar, await openLink(startedJar, started.redirectUrl));
  assert.equal(cont.status, 302);
  const lateCallback = await authorizeAtProvider(startedJar, cont.location);
  assert.equal((await getAccount(untouched.accountId)).status, 'INITIATED');

  // Wait out the 30 s TTL of both links (polling the API, not the clock).
  let account;
  for (;;) {
    account = await getAccount(untouched.accountId);
    const other = await getAccount(started.accountId);
    if ((account.status !== 'INITIATED' && other.status !== 'INITIATED') || Date.now() - created > 50_000) break;
    await sleep(500);
  }
  assert.ok(Date.now() - created >= 29_000, 'the link lived about 30 s');
  assert.equal(account.status, 'EXPIRED');
  assert.match(account.status_reason ?? '', /expired|not complete|in time/i);

  const expired = await openLink(jar, untouched.redirectUrl);
  assert.equal(expired.status, 410);
  assertPageHeaders(expired);
  assert.match(textOf(expired.html), /expired/i);
  assert.doesNotMatch(expired.html, /Continue to/);
  const refused = await browse(jar, `${untouched.redirectUrl}/continue`, { method: 'POST', form: {} });
  assert.equal(refused.status, 410);
  assert.equal(refused.location, undefined);
  assert.match(textOf(refused.html), /expired/i);

  const late = await deliverCallback(startedJar, lateCallback);
  assert.equal(idp.counters.authorizationCode, 0, 'no code was exchanged for an expired link');
  if (late.status === 302) {
    const q = new URL(late.location).searchParams;
    assert.equal(q.get('status'), 'failed');
  } else {
    assert.ok(late.status === 410 || late.status === 400, `late callback: ${late.status}`);
    assert.match(textOf(late.html), /expired/i, 'the page says the link expired');
  }
  const lateAccount = await getAccount(started.accountId);
  assert.equal(lateAccount.status, 'EXPIRED');
  assert.match(lateAccount.status_reason ?? '', /expired|not complete|in time/i);
  assert.equal((await getAccount(untouched.accountId)).status, 'EXPIRED');
});
