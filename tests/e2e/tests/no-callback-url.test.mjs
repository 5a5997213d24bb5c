// A link without a callback URL (neither in the link request nor in the session): the link page
// says the user can close the window afterwards, and the callback ends on a plain page of
// authlink's own instead of a redirect: "connected" on success, a 400 page on denial.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connectFlow, createAuthConfig, createLink, getAccount, startTestIdp, stopIdp, textOf } from '../lib/harness.mjs';
import { assertPageHeaders } from '../lib/checks.mjs';

let idp;
before(async () => { idp = await startTestIdp(); });
after(() => stopIdp(idp, 'no-callback-url'));

test('without a callback URL the flow ends on a "you can close this window" page', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config);

  const flow = await connectFlow(link);

  assert.match(textOf(flow.page.html), /Afterwards you can close this window/);
  assert.equal(flow.done.status, 200, textOf(flow.done.html));
  assert.equal(flow.done.location, undefined, 'no redirect anywhere');
  assertPageHeaders(flow.done);
  assert.match(flow.done.headers.get('content-type'), /^text\/html/);
  const text = textOf(flow.done.html);
  assert.match(text, /account is connected/);
  assert.match(text, /You can close this window/);

  const account = await getAccount(link.accountId);
  assert.equal(account.status, 'ACTIVE');
  assert.ok(account.state.val.access_token, 'the app can read the tokens');
});

test('without a callback URL a denied consent ends on a page saying the connection failed', async () => {
  const config = await createAuthConfig(idp);
  const link = await createLink(config);

  const flow = await connectFlow(link, { decision: 'deny' });

  assert.equal(flow.done.status, 400, textOf(flow.done.html));
  assert.equal(flow.done.location, undefined);
  assertPageHeaders(flow.done);
  assert.match(textOf(flow.done.html), /The connection failed/);
  const account = await getAccount(link.accountId);
  assert.equal(account.status, 'FAILED');
  assert.match(account.status_reason, /access_denied/);
});
