// Success with client_secret_basic: the whole flow over plain HTTP ends in an ACTIVE account
// holding exactly the tokens the provider issued, and the provider saw HTTP Basic client
// authentication, the PKCE verifier and authlink's fixed redirect URI.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appCallback, authlinkCallback, connectFlow, createAuthConfig, createLink, getAccount, queryOf, startTestIdp, stopIdp,
} from '../lib/harness.mjs';
import { assertConnected, assertLinkPage } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'connect-basic'));

test('client_secret_basic: link -> provider -> ACTIVE account with the issued tokens', async () => {
  const config = await createAuthConfig(idp, { method: 'client_secret_basic' });
  const link = await createLink(config, { callbackUrl: appCallback() });

  const flow = await connectFlow(link);

  assertLinkPage(flow.page, { provider: config.slug, returnHost: '127.0.0.1:9', formAction: `${new URL(idp.authorizationUrl).origin} ${new URL(appCallback()).origin}` });
  await assertConnected({ idp, link, flow, client: idp.clients.basic, method: 'client_secret_basic' });
  const q = queryOf(flow.done.location);
  assert.equal(q.from, 'e2e', 'the callback URL keeps its own query');
  const auth = new URL(flow.cont.location);
  assert.equal(auth.searchParams.get('redirect_uri'), authlinkCallback());
  assert.equal(auth.searchParams.get('client_id'), idp.clients.basic.client_id);
  assert.equal((await getAccount(link.accountId)).status, 'ACTIVE');
});
