// Many concurrent reads of an expiring account: 20 GETs at once of an account whose access token
// expires within authlink's 5-minute window all succeed, all return the same fresh token, and the
// provider sees exactly one refresh grant.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, appCallback, connectFlow, createAuthConfig, createLink, startTestIdp, stopIdp } from '../lib/harness.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'concurrent-refresh'));

const READERS = 20;

test(`${READERS} concurrent reads of an expiring account cause one refresh`, async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });
  await connectFlow(link);
  assert.equal(idp.counters.refresh, 0);

  const results = await Promise.all(
    Array.from({ length: READERS }, () => api('GET', `/connected_accounts/${link.accountId}`)),
  );

  for (const r of results) assert.equal(r.status, 200, r.text);
  assert.equal(idp.counters.refresh, 1, 'exactly one refresh grant at the provider');
  assert.deepEqual(idp.tokenErrors, []);
  const grant = idp.issued.at(-1);
  assert.equal(grant.grantType, 'refresh_token');
  for (const r of results) {
    assert.equal(r.body.status, 'ACTIVE');
    assert.equal(r.body.state.val.access_token, grant.accessToken, 'every reader got the refreshed token');
    assert.equal(r.body.state.val.refresh_token, grant.refreshToken);
  }
});
