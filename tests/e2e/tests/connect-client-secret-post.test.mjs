// Success with client_secret_post: the same flow, with the client credentials in the token
// request's form body (and no Authorization header) at the code exchange and at the refresh.
import { after, before, test } from 'node:test';

import { appCallback, connectFlow, createAuthConfig, createLink, startTestIdp, stopIdp } from '../lib/harness.mjs';
import { assertConnected } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'connect-post'));

test('client_secret_post: link -> provider -> ACTIVE account with the issued tokens', async () => {
  const config = await createAuthConfig(idp, { method: 'client_secret_post' });
  const link = await createLink(config, { callbackUrl: appCallback() });

  const flow = await connectFlow(link);

  await assertConnected({ idp, link, flow, client: idp.clients.post, method: 'client_secret_post' });
});
