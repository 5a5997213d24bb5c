// Assertions shared by several test files.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { getAccount, isBindingCookie, queryOf, textOf } from './harness.mjs';

/** The CSP of every end-user page; the link page's form may also reach the provider's and the app's origins. */
export const PAGE_CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

/** The headers design §5 asks of every end-user page; `formAction`: the link page's extra form-action sources. */
export function assertPageHeaders(res, { formAction } = {}) {
  assert.equal(res.headers.get('content-security-policy'), formAction ? `${PAGE_CSP} ${formAction}` : PAGE_CSP);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(res.headers.get('cache-control'), 'no-store');
}

/** A usable link page: names the provider and where the user returns, loads nothing from elsewhere. */
export function assertLinkPage(page, { provider, returnHost, formAction }) {
  assert.equal(page.status, 200, page.html);
  assertPageHeaders(page, { formAction });
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const text = textOf(page.html);
  assert.ok(text.includes(`Continue to ${provider}`), text);
  if (returnHost) assert.ok(text.includes(returnHost), `the page names ${returnHost}: ${text}`);
  for (const m of page.html.matchAll(/(?:src|href|action)="([^"]*)"/g)) {
    assert.ok(!/^[a-z]+:|^\/\//i.test(m[1]), `no absolute or third-party URL on the link page: ${m[1]}`);
  }
  const cookie = page.headers.getSetCookie().find((c) => isBindingCookie(c.split('=')[0]));
  assert.ok(cookie, 'the link page sets the browser-binding cookie');
  assert.match(cookie, /HttpOnly/i);
  assert.match(cookie, /SameSite=Lax/i);
}

const s256 = (verifier) => createHash('sha256').update(verifier).digest('base64url');

/**
 * The flow succeeded: redirect to the app with status=success, exactly one code exchange at the
 * provider with the expected client authentication and a PKCE verifier matching the challenge,
 * and the account ACTIVE with tokens the provider issued. The first read of the account refreshes
 * (codes give 30 s tokens, inside authlink's 5-minute window) exactly once, using the refresh
 * token from the code exchange; the second read does not refresh again.
 */
export async function assertConnected({ idp, link, flow, client, method }) {
  assert.equal(flow.done.status, 302, `callback: ${flow.done.status} ${textOf(flow.done.html)}`);
  const q = queryOf(flow.done.location);
  assert.equal(q.status, 'success', flow.done.location);
  assert.equal(q.connected_account_id, link.accountId);
  assert.equal(q.error, undefined);

  const exchanges = idp.issued.filter((r) => r.grantType === 'authorization_code');
  assert.equal(exchanges.length, 1, 'exactly one code exchange');
  const [exchange] = exchanges;
  assert.equal(exchange.clientId, client.client_id);
  assert.equal(exchange.clientAuthMethod, method, `the provider saw ${method}`);
  const auth = new URL(flow.cont.location);
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(exchange.codeVerifier, 'a PKCE verifier was sent');
  assert.equal(s256(exchange.codeVerifier), auth.searchParams.get('code_challenge'));
  assert.equal(exchange.code, new URL(flow.callbackUrl).searchParams.get('code'));
  assert.ok(exchange.refreshToken, 'the provider issued a refresh token');

  const before = idp.counters.refresh;
  const first = await getAccount(link.accountId);
  assert.equal(first.status, 'ACTIVE');
  assert.equal(first.state.authScheme, 'OAUTH2');
  assert.equal(first.state.val.status, 'ACTIVE');
  assert.equal(idp.counters.refresh, before + 1, 'the first read refreshed the 30 s token once');
  const refresh = idp.issued.at(-1);
  assert.equal(refresh.grantType, 'refresh_token');
  assert.equal(refresh.clientAuthMethod, method);
  assert.equal(refresh.refreshTokenUsed, exchange.refreshToken, 'the stored refresh token was the issued one');
  assert.equal(first.state.val.access_token, refresh.accessToken);
  assert.equal(first.state.val.refresh_token, refresh.refreshToken);
  assert.equal(first.state.val.token_type, 'Bearer');
  assert.ok(first.state.val.expires_in > 3500 && first.state.val.expires_in <= 3600, `expires_in ${first.state.val.expires_in}`);

  const second = await getAccount(link.accountId);
  assert.equal(idp.counters.refresh, before + 1, 'a fresh token is not refreshed again');
  assert.equal(second.state.val.access_token, refresh.accessToken);
  return { exchange, refresh, account: second };
}
