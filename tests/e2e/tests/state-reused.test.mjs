// A reused state: replaying the provider's redirect (same code, same state, same browser) after
// the connection completed shows a page, exchanges nothing and leaves the account's tokens alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appCallback, connectFlow, createAuthConfig, createLink, deliverCallback, getAccount, startTestIdp, stopIdp, textOf,
} from '../lib/harness.mjs';
import { assertPageHeaders } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'state-reused'));

test('replaying a completed callback is refused without a second exchange', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });
  const flow = await connectFlow(link);
  assert.equal(new URL(flow.done.location).searchParams.get('status'), 'success');
  const before = await getAccount(link.accountId);
  const exchanges = idp.counters.authorizationCode;
  const tokenCalls = idp.issued.length + idp.tokenErrors.length;

  for (let i = 0; i < 2; i += 1) {
    const replay = await deliverCallback(flow.jar, flow.callbackUrl);
    assert.ok(replay.status >= 400 && replay.status < 500, `replay answered ${replay.status}`);
    assert.equal(replay.location, undefined, 'no redirect, success or otherwise');
    assertPageHeaders(replay);
    assert.match(textOf(replay.html), /already (completed|used)/i);
  }

  assert.equal(idp.counters.authorizationCode, exchanges);
  assert.equal(idp.issued.length + idp.tokenErrors.length, tokenCalls, 'the provider saw no token request');
  const after = await getAccount(link.accountId);
  assert.equal(after.status, 'ACTIVE');
  assert.equal(after.state.val.access_token, before.state.val.access_token);
  assert.equal(after.state.val.refresh_token, before.state.val.refresh_token);
});
