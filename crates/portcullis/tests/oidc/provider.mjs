// A real OpenID provider (panva's certified `oidc-provider`) for Portcullis'
// end-to-end JWT tests. It serves discovery, JWKS and a token endpoint that
// issues client-credentials access tokens as RS256-signed JWTs.
//
// Started by `portcullis-test-support`'s `oidc` fixture; everything comes
// from the environment:
//
//   OIDC_PORT           port on 127.0.0.1 to listen on; 0 picks a free one
//   OIDC_CERT/OIDC_KEY  TLS certificate chain and key (PEM files)
//   OIDC_JWKS           JSON file {"keys": [private JWK, ...]}; the FIRST
//                       key signs, the others are only published in the JWKS
//   OIDC_CLIENT_ID      the one confidential client (client_secret_basic,
//   OIDC_CLIENT_SECRET  grant type client_credentials only)
//   OIDC_AUDIENCE       the resource indicator and `aud` of every token
//   OIDC_ISSUER         optional; default https://127.0.0.1:<port>
//   OIDC_TOKEN_TTL      optional access-token lifetime in seconds; default 300
//   OIDC_EXIT_ON_STDIN_EOF  optional; "1" exits when stdin closes, so the
//                       provider never outlives the test process that holds
//                       the other end of the pipe
//
// Prints `READY <port>` on stdout once it accepts connections. Key rotation
// is a restart on the same port with a different OIDC_JWKS file.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import Provider, { errors } from 'oidc-provider';

function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    console.error(`provider.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(env('OIDC_PORT', '0'), 10);
const jwks = JSON.parse(readFileSync(env('OIDC_JWKS'), 'utf8'));
const clientId = env('OIDC_CLIENT_ID');
const clientSecret = env('OIDC_CLIENT_SECRET');
const audience = env('OIDC_AUDIENCE');
const tokenTtl = Number.parseInt(env('OIDC_TOKEN_TTL', '300'), 10);

if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
  console.error('provider.mjs: OIDC_JWKS must hold {"keys": [...]} with at least one key');
  process.exit(2);
}
const signingKid = jwks.keys[0].kid;

if (process.env.OIDC_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

const server = createServer({
  cert: readFileSync(env('OIDC_CERT')),
  key: readFileSync(env('OIDC_KEY')),
});

server.on('error', (err) => {
  console.error(`provider.mjs: ${err.message}`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  const bound = server.address().port;
  const issuer = env('OIDC_ISSUER', `https://127.0.0.1:${bound}`);

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A token request without `resource` is for the one audience, so
        // every client-credentials token is a JWT for it.
        defaultResource: async () => audience,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: 'orders:read orders:write',
            audience,
            accessTokenTTL: tokenTtl,
            accessTokenFormat: 'jwt',
            // Pin the signing key to the first JWK: its order in OIDC_JWKS
            // is what the fixture rotates.
            jwt: { sign: { alg: 'RS256', kid: signingKid } },
          };
        },
      },
    },
    ttl: {
      AccessToken: tokenTtl,
      ClientCredentials: tokenTtl,
    },
  });

  provider.on('server_error', (_ctx, err) => console.error('provider.mjs: server_error', err));
  provider.on('grant.error', (_ctx, err) => console.error(`provider.mjs: grant.error ${err.message}`));

  server.on('request', provider.callback());
  process.stdout.write(`READY ${bound}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
