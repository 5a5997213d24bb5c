// Pieces shared by the hosted-form tests (forms.test.mjs, form-oauth-subdomain.test.mjs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { env } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where the form screenshots go (kept after the run). */
export const SHOTS = path.join(ROOT, 'target', 'e2e-artifacts', 'forms');

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Reads an account with composio-client, as an app would: status, scheme, state and data. */
export async function composioRead(accountId) {
  const script = `
import json, os
from composio_client import Composio
client = Composio(base_url=os.environ["E2E_BASE_URL"], api_key=os.environ["E2E_API_KEY"])
a = client.connected_accounts.retrieve(os.environ["E2E_ACCOUNT_ID"])
print(json.dumps({"id": a.id, "status": a.status, "toolkit": a.toolkit.slug,
                  "auth_scheme": a.auth_config.auth_scheme, "state": a.state.to_dict() if a.state else None,
                  "data": a.data}))
`;
  const { stdout } = await promisify(execFile)(env.python, ['-c', script], {
    env: { ...process.env, E2E_BASE_URL: env.baseUrl, E2E_API_KEY: env.apiKey, E2E_ACCOUNT_ID: accountId },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim());
}

/** Full-page screenshots of the current page, desktop (as opened) and 375 px wide. */
export async function shoot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const desktop = page.viewportSize();
  await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize({ width: 375, height: 812 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${name}: no horizontal scrolling at 375 px (${overflow} px too wide)`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-mobile.png`), fullPage: true });
  await page.setViewportSize(desktop);
}
