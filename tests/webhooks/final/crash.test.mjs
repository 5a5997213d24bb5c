// authlink killed with SIGKILL between a state change and its delivery: the event was committed
// with the change (the outbox), so the restarted process delivers it. The process's worker is
// made to sleep past the change (AUTHLINK_WEBHOOK_POLL_MS=60000 after its first, empty round), so
// the kill lands after the commit and before any attempt. Runs after run.sh stopped the other
// authlink processes: nothing else could deliver it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';

import { apiOk, appCallback, createAuthConfig, createLink, startTestIdp, stopIdp } from '../../e2e/lib/harness.mjs';
import { killReceiver, received, receiverUrl, setSecrets, startReceiver, typesOf, waitFor } from '../lib/webhooks.mjs';

const port = process.env.AUTHLINK_WH_CRASH_PORT;
const base = `http://127.0.0.1:${port}`;
let idp;
let receiver;
let server;

function start(extraEnv) {
  const child = spawn(process.env.AUTHLINK_BIN, ['serve'], {
    env: { ...process.env, AUTHLINK_LISTEN: `127.0.0.1:${port}`, AUTHLINK_PUBLIC_URL: base, ...extraEnv },
    stdio: 'ignore',
  });
  return child;
}

async function ready() {
  for (let i = 0; i < 120; i += 1) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail('authlink did not become ready');
}

after(async () => {
  if (server) server.kill('SIGKILL');
  if (receiver) await killReceiver(receiver).catch(() => {});
  await stopIdp(idp, 'webhooks-crash');
});

test('an event committed just before a SIGKILL is delivered after the restart', async () => {
  idp = await startTestIdp();
  receiver = await startReceiver();
  server = start({ AUTHLINK_WEBHOOK_POLL_MS: '60000' });
  await ready();
  const opts = { base };
  // Phase 1's subscription (same database, same receiver port) would deliver too: drop it.
  for (const s of (await apiOk('GET', '/webhook_subscriptions', undefined, opts)).items) {
    await apiOk('DELETE', `/webhook_subscriptions/${s.id}`, undefined, opts);
  }
  const sub = await apiOk('POST', '/webhook_subscriptions',
    { webhook_url: receiverUrl(), enabled_events: ['composio.connected_account.initiated'] }, opts);
  setSecrets([sub.secret]);
  // The worker's first round ran at start (nothing due); it now sleeps for 60 s.
  await new Promise((r) => setTimeout(r, 500));
  const config = await createAuthConfig(idp, { opts });
  const link = await createLink(config, { base, callbackUrl: appCallback() });
  const gone = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await gone;
  server = undefined;
  assert.deepEqual(typesOf(received(), link.accountId), [], 'delivered before the kill: the test proves nothing');

  server = start({});
  await ready();
  const got = await waitFor((g) => typesOf(g, link.accountId).includes('initiated'), 'the event after the restart');
  const mine = got.filter((r) => r.account === link.accountId);
  assert.ok(mine.every((r) => r.ok), JSON.stringify(mine));
  assert.equal(mine[0].attempt, '1', 'its first attempt came after the restart');
});
