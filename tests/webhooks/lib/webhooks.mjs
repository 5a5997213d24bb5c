// Shared pieces of the webhook suite: the Python receiver (real `standardwebhooks` and `composio`
// verifiers) as a child process that a test can kill and restart, and reads of what it got.
//
// Environment (set by tests/webhooks/run.sh, besides the e2e harness's AUTHLINK_E2E_*):
//   AUTHLINK_WH_RECEIVER_PORT  the port the receiver listens on (allowlisted in authlink)
//   AUTHLINK_WH_PYTHON         python with composio 0.30.0 and standardwebhooks
//   AUTHLINK_WH_DIR            a scratch directory (secrets file, receiver log)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const required = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite through tests/webhooks/run.sh`);
  return v;
};

export const receiverUrl = () => `http://127.0.0.1:${required('AUTHLINK_WH_RECEIVER_PORT')}/hook`;
const dir = () => required('AUTHLINK_WH_DIR');
export const logFile = () => path.join(dir(), 'received.jsonl');
const secretsFile = () => path.join(dir(), 'secrets.json');

/** The secrets the receiver accepts (all of them are tried). */
export function setSecrets(secrets) {
  writeFileSync(secretsFile(), JSON.stringify(secrets));
}

/** Starts the receiver; resolves once it listens. */
export async function startReceiver() {
  const child = spawn(required('AUTHLINK_WH_PYTHON'),
    [path.join(here, '..', 'receiver.py'), required('AUTHLINK_WH_RECEIVER_PORT'), secretsFile(), logFile()],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the receiver exited (${code})`)));
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
  });
  return child;
}

/** Kills the receiver (SIGKILL: connections are refused from now on). */
export async function killReceiver(child) {
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

/** Every request the receiver logged so far. */
export function received() {
  if (!existsSync(logFile())) return [];
  return readFileSync(logFile(), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Waits until `predicate(received())` holds (polling), failing after `ms`. */
export async function waitFor(predicate, what, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    const got = received();
    if (predicate(got)) return got;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}; received: ${JSON.stringify(got, null, 1)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const short = (t) => t.replace('composio.connected_account.', '');

/** The distinct event types delivered (and verified) for an account, in delivery order. */
export function typesOf(got, account) {
  const seen = new Map();
  for (const r of got) if (r.account === account && r.ok && !seen.has(r.webhook_id)) seen.set(r.webhook_id, short(r.type));
  return [...seen.values()];
}

/** Every logged request was accepted by both verifiers, and no attempt was sent twice. */
export function assertAllVerifiedOnce(got) {
  const failed = got.filter((r) => !r.ok);
  assert.deepEqual(failed, [], 'deliveries a verifier refused');
  const attempts = new Map();
  for (const r of got) {
    const key = `${r.webhook_id}#${r.attempt}`;
    assert.ok(!attempts.has(key), `attempt ${key} was sent twice`);
    attempts.set(key, r);
    assert.equal(r.version, 'V3');
    assert.equal(r.composio_version, 'V3', `composio parsed ${r.webhook_id} as ${r.composio_version}`);
    assert.equal(r.std_type, r.type);
    assert.equal(r.composio_type, r.type);
  }
}
