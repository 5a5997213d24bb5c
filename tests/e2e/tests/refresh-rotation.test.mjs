// Refresh with rotation: POST connected_accounts/{id}/refresh calls the provider once, saves the
// rotated refresh token (so the next refresh, which needs it, works) and returns the new tokens;
// a read afterwards returns the saved tokens without calling the provider.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  apiOk, appCallback, connectFlow, createAuthConfig, createLink, getAccount, startTestIdp, stopIdp,
} from '../lib/harness.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'refresh-rotation'));

test('a forced refresh rotates and saves the refresh token', async () => {
  const config = await createAuthConfig(idp, { method: 'client_secret_post' });
  const link = await createLink(config, { callbackUrl: appCallback() });
  await connectFlow(link);
  let current = await getAccount(link.accountId); // refreshes the 30 s code-grant token once
  assert.equal(current.status, 'ACTIVE');

  for (let round = 0; round < 2; round += 1) {
    const before = idp.counters.refresh;
    const refreshed = await apiOk('POST', `/connected_accounts/${link.accountId}/refresh`);
    assert.equal(idp.counters.refresh, before + 1, 'one refresh grant at the provider');
    const grant = idp.issued.at(-1);
    assert.equal(grant.grantType, 'refresh_token');
    assert.equal(grant.refreshTokenUsed, current.state.val.refresh_token, 'the saved refresh token was used');
    assert.ok(grant.refreshToken && grant.refreshToken !== grant.refreshTokenUsed, 'the provider rotated it');

    assert.equal(refreshed.status, 'ACTIVE');
    assert.equal(refreshed.state.val.access_token, grant.accessToken);
    assert.equal(refreshed.state.val.refresh_token, grant.refreshToken);
    assert.notEqual(refreshed.state.val.access_token, current.state.val.access_token);

    const read = await getAccount(link.accountId);
    assert.equal(idp.counters.refresh, before + 1, 'reading a fresh token does not refresh');
    assert.equal(read.state.val.refresh_token, grant.refreshToken, 'the rotated refresh token was saved');
    assert.equal(read.state.val.access_token, grant.accessToken);
    current = read;
  }
  assert.deepEqual(idp.tokenErrors, []);
});
