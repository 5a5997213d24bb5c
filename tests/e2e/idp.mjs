// A real OAuth 2.0 / OpenID Connect authorization server for the end-to-end tests: panva's
// oidc-provider, in-process, on 127.0.0.1 (never `localhost`: its interaction cookies are bound to
// the host name, and the issuer must be the exact string authlink checks `iss` against).
//
// Why these settings:
// - PKCE is required for every client (oidc-provider 9 only requires it for public clients by
//   default), so an authorization request without S256 fails loudly.
// - Refresh tokens are always issued (oidc-provider drops `offline_access` without
//   `prompt=consent`) and rotated on every use, so the rotation test can see a new one.
// - Access tokens from the authorization_code grant live 30 s, tokens from a refresh_token grant
//   3600 s: the first read of a fresh account must refresh exactly once, and reads after that must
//   not refresh again.
// - The interaction pages are our own (no third-party fonts like the built-in dev pages load):
//   a login form (`login`, `password`, button "Sign in") and a consent form with "Allow" and
//   "Deny" buttons. Deny finishes the interaction with `access_denied`, which oidc-provider turns
//   into `error=access_denied` on the redirect back to authlink. All of it works with plain form
//   POSTs and in a browser.
//
// `counters` and `issued` let tests see what happened at the token endpoint without trusting the
// system under test: how many refresh grants succeeded, which client exchanged a code, and every
// token, code and PKCE verifier the provider ever handed out (the database dump check searches for
// them).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

import Provider from 'oidc-provider';

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:3rem auto}label,input,button{display:block;margin:.4rem 0}
button{padding:.4rem 1rem}</style></head>
<body><h1>${html(title)}</h1>${body}</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * Start the provider.
 * @param {{authlinkCallback: string, port?: number}} options authlink's fixed
 *   `{AUTHLINK_PUBLIC_URL}/oauth/callback`, registered as the only redirect URI of both clients.
 */
export async function startIdp({ authlinkCallback, port = 0, frontChannel } = {}) {
  if (!authlinkCallback) throw new Error('startIdp needs authlinkCallback');
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const backChannel = `http://127.0.0.1:${server.address().port}`;
  // With `frontChannel` ({host, port, key, cert}) the browser-facing side (issuer, authorization
  // endpoint, interactions) is https on a host name such as `tenant.localhost` (Chromium resolves
  // every *.localhost to loopback), while authlink's token requests use the plain http listener.
  let tlsServer;
  if (frontChannel) {
    tlsServer = https.createServer({ key: frontChannel.key, cert: frontChannel.cert });
    await new Promise((resolve, reject) => {
      tlsServer.once('error', reject);
      tlsServer.listen(frontChannel.port ?? 0, '127.0.0.1', resolve);
    });
  }
  const issuer = tlsServer ? `https://${frontChannel.host}:${tlsServer.address().port}` : backChannel;

  // Client ids are unique to this instance. Test files run one after another on a small pool of
  // allowlisted ports, so a port freed by one file's provider is often taken by the next file's:
  // authlink's background refresher then still calls it for the earlier file's accounts. Those
  // requests name a client this instance never registered, and land in `foreign`, not `counters`.
  const tag = randomBytes(4).toString('hex');
  const clients = {
    basic: { client_id: `basic-client-${tag}`, client_secret: `basic-secret-${randomBytes(16).toString('hex')}` },
    post: { client_id: `post-client-${tag}`, client_secret: `post-secret-${randomBytes(16).toString('hex')}` },
  };
  const ownClientIds = new Set([clients.basic.client_id, clients.post.client_id]);
  const clientMeta = (c, method) => ({
    ...c,
    token_endpoint_auth_method: method,
    redirect_uris: [authlinkCallback],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  });

  const counters = {
    authorizationCode: 0, // successful authorization_code grants
    refresh: 0, // successful refresh_token grants
    tokenErrors: 0, // failed token endpoint requests of any grant type, naming one of our clients
    revocations: 0,
  };
  /** Token endpoint requests naming a client of no one here (see `clients`); never counted above.
   * @type {Array<{grantType?: string, clientId?: string, error: string, at: number}>} */
  const foreign = [];
  /** @type {Array<{grantType: string, clientId: string, clientAuthMethod?: string, code?: string, codeVerifier?: string,
   *   refreshTokenUsed?: string, accessToken?: string, refreshToken?: string, idToken?: string,
   *   expiresIn?: number, at: number}>} */
  const issued = [];
  /** @type {Array<{grantType: string, clientId?: string, clientAuthMethod: string, code?: string,
   *   codeVerifier?: string, refreshTokenUsed?: string, error: string, description?: string, at: number}>} */
  const tokenErrors = [];

  const provider = new Provider(issuer, {
    clients: [clientMeta(clients.basic, 'client_secret_basic'), clientMeta(clients.post, 'client_secret_post')],
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      // Tests revoke a refresh token (to provoke invalid_grant) as the client that owns it.
      revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async () => true,
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: (ctx, token) => (token.gty && token.gty.endsWith('refresh_token') ? 3600 : 30),
      AuthorizationCode: 60,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 14 * 24 * 3600,
      Session: 3600,
    },
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Provider error', `<p id="error">${html(out.error)}: ${html(out.error_description || '')}</p>`);
    },
  });
  // A bug in this file or in a test's use of the provider must be loud, not a vague 500.
  provider.on('server_error', (ctx, err) => console.error('idp server_error', err));

  // oidc-provider accepts client_secret_basic and client_secret_post interchangeably for a client
  // registered with either, so the method actually used is recorded here, from the request itself.
  const clientAuthMethodOf = (ctx) => {
    if (ctx.headers.authorization !== undefined) return 'client_secret_basic';
    if (ctx.oidc?.params?.client_secret) return 'client_secret_post';
    return 'none';
  };

  // Every code handed out, including those never exchanged (tampered, replayed or late callbacks).
  provider.on('authorization.success', (ctx, out) => {
    if (out?.code) {
      issued.push({ grantType: 'authorization', clientId: ctx.oidc.client?.clientId, code: out.code, at: Date.now() });
    }
  });

  provider.on('grant.success', (ctx) => {
    const grantType = ctx.oidc.params.grant_type;
    const body = ctx.body || {};
    if (grantType === 'refresh_token') counters.refresh += 1;
    if (grantType === 'authorization_code') counters.authorizationCode += 1;
    issued.push({
      grantType,
      clientId: ctx.oidc.client?.clientId,
      clientAuthMethod: clientAuthMethodOf(ctx),
      code: grantType === 'authorization_code' ? ctx.oidc.params.code : undefined,
      codeVerifier: grantType === 'authorization_code' ? ctx.oidc.params.code_verifier : undefined,
      refreshTokenUsed: grantType === 'refresh_token' ? ctx.oidc.params.refresh_token : undefined,
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      idToken: body.id_token,
      expiresIn: body.expires_in,
      at: Date.now(),
    });
  });
  // The client a token request names, authenticated or not: the Basic user name or `client_id`.
  const requestedClientId = (ctx) => {
    if (ctx.oidc?.client?.clientId) return ctx.oidc.client.clientId;
    const auth = ctx.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const user = Buffer.from(auth.slice(6), 'base64').toString().split(':')[0];
      try { return decodeURIComponent(user); } catch { return user; }
    }
    return ctx.oidc?.params?.client_id ?? ctx.request?.body?.client_id;
  };

  provider.on('grant.error', (ctx, err) => {
    const clientId = requestedClientId(ctx);
    if (!ownClientIds.has(clientId)) {
      foreign.push({ grantType: ctx.oidc?.params?.grant_type, clientId, error: err.error || err.message, at: Date.now() });
      return;
    }
    counters.tokenErrors += 1;
    tokenErrors.push({
      grantType: ctx.oidc?.params?.grant_type,
      clientId: ctx.oidc?.client?.clientId,
      clientAuthMethod: clientAuthMethodOf(ctx),
      code: ctx.oidc?.params?.code,
      codeVerifier: ctx.oidc?.params?.code_verifier,
      refreshTokenUsed: ctx.oidc?.params?.refresh_token,
      error: err.error || err.message,
      description: err.error_description,
      at: Date.now(),
    });
  });
  provider.on('grant.revoked', () => {
    counters.revocations += 1;
  });

  const providerHandler = provider.callback();

  async function interaction(req, res, uid, action) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      return send(res, 400, page('Interaction error', `<p id="error">${html(err.message)}</p>`));
    }
    if (details.uid !== uid) return send(res, 400, page('Interaction error', '<p id="error">uid mismatch</p>'));
    const { prompt, params, session } = details;

    if (req.method === 'GET' && action === '') {
      if (prompt.name === 'login') {
        return send(res, 200, page('Sign in to the test IdP', `
<form method="post" action="/interaction/${html(uid)}/login">
  <label for="login">Login</label><input id="login" name="login" required autofocus>
  <label for="password">Password</label><input id="password" name="password" type="password" required>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${html(uid)}/abort"><button type="submit">Cancel</button></form>`));
      }
      if (prompt.name === 'consent') {
        return send(res, 200, page('Authorize', `
<p>The application <strong>${html(params.client_id)}</strong> asks for: <code>${html(params.scope)}</code></p>
<form method="post" action="/interaction/${html(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${html(uid)}/abort"><button type="submit">Deny</button></form>`));
      }
      return send(res, 501, page('Not implemented', `<p>prompt ${html(prompt.name)}</p>`));
    }

    if (req.method !== 'POST') return send(res, 405, page('Method not allowed', ''));
    const form = await readForm(req);
    if (action === 'login') {
      const login = form.get('login');
      if (prompt.name !== 'login' || !login) return send(res, 400, page('Bad login', ''));
      return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }
    if (action === 'confirm') {
      if (prompt.name !== 'consent') return send(res, 400, page('Bad consent', ''));
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      if (prompt.details.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (action === 'abort') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User denied the request',
      }, { mergeWithLastSubmission: false });
    }
    return send(res, 404, page('Not found', ''));
  }

  const onRequest = (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    const m = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(pathname);
    if (m) {
      interaction(req, res, m[1], m[2] || '').catch((err) => {
        console.error('idp interaction error', err);
        if (!res.headersSent) send(res, 500, page('Interaction failed', `<p>${html(err.message)}</p>`));
        else res.end();
      });
      return;
    }
    providerHandler(req, res);
  };
  server.on('request', onRequest);
  tlsServer?.on('request', onRequest);

  /** Revoke a token at the revocation endpoint, authenticating as the client that owns it. */
  async function revoke(token, client = clients.basic, hint = 'refresh_token') {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams({ token, token_type_hint: hint });
    if (client === clients.post) {
      body.set('client_id', client.client_id);
      body.set('client_secret', client.client_secret);
    } else {
      const user = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`;
      headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
    }
    const res = await fetch(`${backChannel}/token/revocation`, { method: 'POST', headers, body });
    if (res.status !== 200) throw new Error(`revocation answered ${res.status}: ${await res.text()}`);
  }

  async function close() {
    for (const s of [server, tlsServer].filter(Boolean)) {
      s.closeAllConnections?.();
      await new Promise((resolve) => s.close(() => resolve()));
    }
  }

  return {
    issuer,
    url: issuer,
    authorizationUrl: `${issuer}/auth`,
    tokenUrl: `${backChannel}/token`,
    revocationUrl: `${backChannel}/token/revocation`,
    backChannel,
    clients,
    counters,
    foreign,
    issued,
    tokenErrors,
    provider,
    revoke,
    close,
  };
}
