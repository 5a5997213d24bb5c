// After all flows (run.sh runs this once both authlink servers have stopped): no secret that went
// through authlink appears in clear in the database or in authlink's logs.
//
// The secrets come from every test file of phase 1: the client secrets the providers were
// configured with, every authorization code, PKCE verifier, access, refresh and ID token they
// issued (recorded by the providers themselves), and the link tokens, `state` values and
// browser-binding cookies the tests saw (authlink keeps only their hashes), the API keys, tokens
// and passwords typed into the hosted forms (sealed at rest), plus the API key and
// the encryption key. Each is searched for as is, base64, base64url, hex and percent-encoded.
//
// The database is read whole: `pg_dump` (schema and data) for PostgreSQL; for SQLite the raw
// bytes of the database file and its -wal/-journal files (free pages included).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const need = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run through tests/e2e/run.sh`);
  return v;
};

const KINDS = ['clientSecrets', 'codes', 'verifiers', 'accessTokens', 'refreshTokens', 'idTokens', 'linkTokens', 'states',
  'bindings', 'formSecrets'];
// Every phase-1 file records its secrets; a missing one means the check would be incomplete.
const FILES = ['connect-basic', 'connect-post', 'consent-denied', 'reused-link', 'state-reused', 'state-tampered',
  'state-foreign-cookie', 'expired-link', 'refresh-rotation', 'invalid-grant', 'concurrent-refresh', 'double-continue',
  'browser', 'forms', 'form-oauth-subdomain'];

// Set by run.sh when extra arguments (a test filter) were passed to phase 1.
const PARTIAL = process.env.AUTHLINK_E2E_PARTIAL === '1';

function loadSecrets() {
  const dir = need('AUTHLINK_E2E_STATE_DIR');
  const records = readdirSync(dir).filter((f) => f.startsWith('secrets-')).map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
  const names = new Set(records.map((r) => r.name));
  const byKind = Object.fromEntries(KINDS.map((k) => [k, new Set(records.flatMap((r) => r[k] ?? []))]));
  if (PARTIAL) {
    // run.sh was given a test filter: check what ran, but something must have.
    assert.ok(byKind.clientSecrets.size > 0, 'some flow test file left its secrets');
  } else {
    assert.deepEqual(FILES.filter((n) => !names.has(n)), [], 'every flow test file left its secrets');
    for (const k of KINDS) assert.ok(byKind[k].size > 0, `some ${k} were recorded`);
  }
  byKind.apiKey = new Set([need('AUTHLINK_E2E_API_KEY')]);
  byKind.encryptionKey = new Set([need('AUTHLINK_ENCRYPTION_KEY')]);
  return byKind;
}

function encodings(secret) {
  const b = Buffer.from(secret, 'utf8');
  return [...new Set([secret, b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url'),
    b.toString('hex'), encodeURIComponent(secret)])];
}

/** Every [kind, secret, encoding] found in `haystack` (a Buffer, searched as bytes). */
function findLeaks(byKind, haystack) {
  const leaks = [];
  for (const [kind, secrets] of Object.entries(byKind)) {
    for (const secret of secrets) {
      if (secret.length < 8) continue;
      for (const form of encodings(secret)) {
        if (haystack.includes(Buffer.from(form, 'utf8'))) leaks.push(`${kind}: ${secret.slice(0, 6)}… (as ${form === secret ? 'is' : form.slice(0, 6) + '…'})`);
      }
    }
  }
  return leaks;
}

function dumpDatabase() {
  const url = need('AUTHLINK_E2E_DB_URL');
  if (need('AUTHLINK_E2E_BACKEND') === 'postgres') {
    return execFileSync('pg_dump', ['--no-owner', '--no-privileges', '--dbname', url], { maxBuffer: 512 * 1024 * 1024 });
  }
  const file = decodeURIComponent(new URL(url).pathname);
  assert.ok(existsSync(file), `the SQLite database ${file} exists`);
  return Buffer.concat(['', '-wal', '-journal'].map((s) => file + s).filter(existsSync).map((f) => readFileSync(f)));
}

test('the database holds no secret in clear', () => {
  const secrets = loadSecrets();
  const dump = dumpDatabase();
  assert.ok(dump.length > 10_000 && dump.includes(Buffer.from('connected_account')), `a real dump (${dump.length} bytes)`);
  // Sealed values (`v1.<key id>.<…>`) are there: the rows the secrets belong to were dumped.
  const sealed = dump.toString('latin1').match(/v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9+/=]{40,}/g) ?? [];
  assert.ok(sealed.length >= (PARTIAL ? 1 : 20), `sealed values are present in the dump (${sealed.length})`);
  assert.deepEqual(findLeaks(secrets, dump), []);
});

test("authlink's logs hold no secret in clear", () => {
  const secrets = loadSecrets();
  const logs = need('AUTHLINK_E2E_LOGS').split(':').filter(Boolean);
  assert.equal(logs.length, 2);
  // Text logs colour field names with ANSI escapes; drop them so nothing hides between codes.
  const text = logs.map((f) => readFileSync(f, 'utf8')).join('\n').replace(/\x1b\[[0-9;]*m/g, '');
  // The OAuth flows log `authorization started`; the hosted forms only `account connected`.
  assert.ok(text.includes('authorization started') || (PARTIAL && text.includes('account connected')), 'the logs cover the flows');
  if (!PARTIAL) {
    assert.ok(text.includes('account connected'), 'the logs cover completed flows');
    assert.ok(text.includes('tokens refreshed'), 'the logs cover the refreshes');
  }
  assert.deepEqual(findLeaks(secrets, Buffer.from(text, 'utf8')), []);
});
