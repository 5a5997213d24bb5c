// Consent denied: the provider answers error=access_denied; the account becomes FAILED with a
// status_reason, the user returns to the app with status=failed&error=access_denied, and no code
// is ever exchanged.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appCallback, connectFlow, createAuthConfig, createLink, getAccount, openLink, queryOf, startTestIdp, stopIdp,
} from '../lib/harness.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'consent-denied'));

test('denying consent fails the account and tells the app access_denied', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });

  const flow = await connectFlow(link, { decision: 'deny' });

  assert.equal(new URL(flow.callbackUrl).searchParams.get('error'), 'access_denied', 'the provider denied');
  assert.equal(flow.done.status, 302, flow.done.html);
  const q = queryOf(flow.done.location);
  assert.ok(flow.done.location.startsWith('http://127.0.0.1:9/app/connected?'), flow.done.location);
  assert.equal(q.status, 'failed');
  assert.equal(q.error, 'access_denied');
  assert.equal(q.connected_account_id, link.accountId);
  assert.equal(q.from, 'e2e');

  const account = await getAccount(link.accountId);
  assert.equal(account.status, 'FAILED');
  assert.match(account.status_reason, /access_denied/);
  assert.equal(account.state.val.access_token, undefined);
  assert.equal(idp.counters.authorizationCode, 0, 'no code was exchanged');

  const again = await openLink(undefined, link.redirectUrl);
  assert.equal(again.status, 410, 'a failed link cannot be used again');
});
