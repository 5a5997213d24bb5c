// The oidc-provider of the end-to-end tests (tests/e2e/idp.mjs), as a process for the SDK
// journeys: it writes what they need (issuer, endpoints, client credentials, the port of a small
// counters server) to $IDP_INFO, then serves until SIGTERM.
//
//   CALLBACK  authlink's fixed OAuth callback ({AUTHLINK_PUBLIC_URL}/oauth/callback)
//   IDP_PORT  the port to listen on (authlink's AUTHLINK_ENDPOINT_ALLOWLIST names it)
//   IDP_INFO  where to write the JSON
import { writeFileSync } from 'node:fs';
import http from 'node:http';

import { startIdp } from '../e2e/idp.mjs';

const idp = await startIdp({ authlinkCallback: process.env.CALLBACK, port: Number(process.env.IDP_PORT) });

// GET /counters: what happened at the provider, seen from the provider (not from authlink).
const counters = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...idp.counters, issued: idp.issued.length }));
});
await new Promise((resolve) => counters.listen(0, '127.0.0.1', resolve));

writeFileSync(process.env.IDP_INFO, JSON.stringify({
  issuer: idp.issuer,
  authorizationUrl: idp.authorizationUrl,
  tokenUrl: idp.tokenUrl,
  revocationUrl: idp.revocationUrl,
  clients: idp.clients,
  countersUrl: `http://127.0.0.1:${counters.address().port}/counters`,
}));

const stop = async () => {
  counters.close();
  await idp.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
