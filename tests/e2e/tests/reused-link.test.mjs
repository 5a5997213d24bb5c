// A reused link: once a link has connected an account, opening it again shows a 410 page saying
// it was used, Continue refuses to start a new authorization, and the account stays as it was.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CookieJar, appCallback, browse, connectFlow, createAuthConfig, createLink, getAccount, openLink, startTestIdp, stopIdp,
  textOf,
} from '../lib/harness.mjs';
import { assertPageHeaders } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'reused-link'));

test('a used link shows a 410 page and starts nothing', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });
  const flow = await connectFlow(link);
  assert.equal(new URL(flow.done.location).searchParams.get('status'), 'success');
  const active = await getAccount(link.accountId);
  assert.equal(active.status, 'ACTIVE');

  for (const jar of [flow.jar, new CookieJar()]) {
    const page = await openLink(jar, link.redirectUrl);
    assert.equal(page.status, 410);
    assertPageHeaders(page);
    assert.match(textOf(page.html), /already used/i);
    assert.doesNotMatch(page.html, /Continue to/);

    const cont = await browse(jar, `${link.redirectUrl}/continue`, { method: 'POST', form: {} });
    assert.equal(cont.status, 410, `continue on a used link: ${cont.status}`);
    assert.equal(cont.location, undefined, 'no redirect to the provider');
    assert.match(textOf(cont.html), /already used/i);
  }

  const after = await getAccount(link.accountId);
  assert.equal(after.status, 'ACTIVE');
  assert.equal(after.state.val.access_token, active.state.val.access_token);
  assert.equal(idp.counters.authorizationCode, 1);
});
