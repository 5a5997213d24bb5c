// invalid_grant: once the provider no longer accepts the account's refresh token (revoked here at
// its revocation endpoint), a forced refresh answers an error and the account becomes EXPIRED with
// a status_reason naming invalid_grant; a plain read of an expiring account does the same.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  api, appCallback, connectFlow, createAuthConfig, createLink, getAccount, startTestIdp, stopIdp,
} from '../lib/harness.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'invalid-grant'));

test('a forced refresh with a revoked refresh token expires the account', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config, { callbackUrl: appCallback() });
  await connectFlow(link);
  const active = await getAccount(link.accountId);
  assert.equal(active.status, 'ACTIVE');
  await idp.revoke(active.state.val.refresh_token, idp.clients.basic);

  const res = await api('POST', `/connected_accounts/${link.accountId}/refresh`);
  assert.ok(res.status >= 400 && res.status < 500, `refresh answered ${res.status}: ${res.text}`);
  assert.ok(res.body?.error?.message, `an error envelope: ${res.text}`);
  assert.match(res.body.error.message, /invalid_grant/);
  assert.equal(idp.tokenErrors.at(-1).error, 'invalid_grant');

  const account = await getAccount(link.accountId);
  assert.equal(account.status, 'EXPIRED');
  assert.match(account.status_reason, /invalid_grant/);
  assert.equal(account.state.val.access_token, undefined, 'no tokens for an EXPIRED account');
  assert.equal(account.state.val.refresh_token, undefined);

  const again = await api('POST', `/connected_accounts/${link.accountId}/refresh`);
  assert.equal(again.status, 400, 'refreshing an EXPIRED account is refused');
  assert.equal(idp.tokenErrors.length, 1, 'without calling the provider again');
});

test('reading an expiring account whose refresh token is revoked expires it', async () => {
  const config = await createAuthConfig(idp, { method: 'client_secret_post' });
  const link = await createLink(config, { callbackUrl: appCallback() });
  const errors = idp.tokenErrors.length;
  await connectFlow(link);
  const exchange = idp.issued.filter((r) => r.grantType === 'authorization_code').at(-1);
  await idp.revoke(exchange.refreshToken, idp.clients.post);

  // The code-grant token lives 30 s, so this read must try a refresh.
  const account = await getAccount(link.accountId);
  assert.equal(idp.tokenErrors.length, errors + 1);
  assert.equal(idp.tokenErrors.at(-1).error, 'invalid_grant');
  assert.equal(account.status, 'EXPIRED');
  assert.match(account.status_reason, /invalid_grant/);
  assert.equal(account.state.val.access_token, undefined);
});
