// An independent OAuth 2.0 authorization server for the interop tests: panva's oidc-provider
// (OpenID Certified), configured for machine clients of an MCP resource server.
//
//   node provider.mjs --port 4000 [--host 127.0.0.1] [--exit-with-stdin]
//
// --exit-with-stdin: exit when stdin closes, so the provider never outlives the test process
// that started it (even one that was killed before it could stop it).
//
// Environment:
//   INTEROP_CLIENT_SECRETS  JSON object: client_id -> client_secret, one for each client below
//   INTEROP_ADMIN_SECRET    bearer secret for POST /admin/rotate
//
// Clients (all client_credentials, client_secret_basic, scopes notes:read notes:admin):
//   rs256-agent, es256-agent, eddsa-agent  JWT access tokens (RFC 9068) signed with that alg
//   opaque-agent                           opaque access tokens (introspectable, revocable)
//   resource-server                        the MCP server's introspection credentials
// A `resource` parameter (RFC 8707) becomes the token's `aud`.
//
// POST /admin/rotate (Authorization: Bearer <INTEROP_ADMIN_SECRET>) replaces every signing key
// with a freshly generated one while running: new tokens carry the new kid, the JWKS serves only
// the new keys. Issued opaque tokens survive (the token store is shared by the swapped
// instances). It answers {"kids": {alg: kid}}; GET /admin/kids answers the same without change.
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'exit-with-stdin': { type: 'boolean', default: false },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('provider: --port <1-65535> is required');
  process.exit(2);
}
const issuer = `http://${args.host}:${port}`;
const adminSecret = process.env.INTEROP_ADMIN_SECRET ?? '';
if (!adminSecret) {
  console.error('provider: INTEROP_ADMIN_SECRET is required');
  process.exit(2);
}

/** client_id -> what its access tokens are: a JWS algorithm, or 'opaque'; null: no tokens. */
const CLIENTS = {
  'rs256-agent': 'RS256',
  'es256-agent': 'ES256',
  'eddsa-agent': 'EdDSA',
  'opaque-agent': 'opaque',
  'resource-server': null,
};
const SCOPES = ['notes:read', 'notes:admin'];
const TOKEN_TTL = 600;

const secrets = JSON.parse(process.env.INTEROP_CLIENT_SECRETS ?? '{}');
for (const id of Object.keys(CLIENTS)) {
  if (typeof secrets[id] !== 'string' || !secrets[id]) {
    console.error(`provider: INTEROP_CLIENT_SECRETS has no secret for ${id}`);
    process.exit(2);
  }
}

const clients = Object.keys(CLIENTS).map((id) => ({
  client_id: id,
  client_secret: secrets[id],
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: SCOPES.join(' '),
}));

const cookieKeys = [randomBytes(32).toString('base64url')];

/** One fresh private JWK per signing algorithm, each with a new kid. */
function generateKeys() {
  const pairs = {
    RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    EdDSA: generateKeyPairSync('ed25519'),
  };
  return Object.entries(pairs).map(([alg, { privateKey }]) => ({
    ...privateKey.export({ format: 'jwk' }),
    kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`,
    alg,
    use: 'sig',
  }));
}

async function getResourceServerInfo(ctx, resourceIndicator, client) {
  const kind = CLIENTS[client.clientId];
  if (!kind) throw new errors.InvalidTarget('this client gets no access tokens');
  const info = {
    scope: SCOPES.join(' '),
    audience: resourceIndicator,
    accessTokenTTL: TOKEN_TTL,
    accessTokenFormat: kind === 'opaque' ? 'opaque' : 'jwt',
  };
  if (kind !== 'opaque') info.jwt = { sign: { alg: kind } };
  return info;
}

function buildProvider(keys) {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys },
    scopes: SCOPES,
    cookies: { keys: cookieKeys },
    ttl: { ClientCredentials: TOKEN_TTL, AccessToken: TOKEN_TTL },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // The resource server, and a client about its own tokens, may introspect.
        allowedPolicy: (ctx, caller, token) =>
          caller.clientId === 'resource-server' || caller.clientId === token.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: (ctx, caller, token) => caller.clientId === token.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo,
      },
    },
  });
  provider.on('server_error', (ctx, err) => console.error('provider: server_error', err));
  return provider;
}

let keys = generateKeys();
let handler = buildProvider(keys).callback();

const kidsByAlg = () => Object.fromEntries(keys.map((k) => [k.alg, k.kid]));
const digest = (value) => createHash('sha256').update(value).digest();

function isAdmin(req) {
  const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  return timingSafeEqual(digest(given), digest(adminSecret));
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  const path = (req.url ?? '').split('?')[0];
  if (path.startsWith('/admin/')) {
    if (!isAdmin(req)) return answer(res, 401, { error: 'unauthorized' });
    if (path === '/admin/rotate' && req.method === 'POST') {
      keys = generateKeys();
      handler = buildProvider(keys).callback();
      console.error(`provider: rotated signing keys: ${JSON.stringify(kidsByAlg())}`);
      return answer(res, 200, { kids: kidsByAlg() });
    }
    if (path === '/admin/kids' && req.method === 'GET') return answer(res, 200, { kids: kidsByAlg() });
    return answer(res, 404, { error: 'not_found' });
  }
  return handler(req, res);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (args['exit-with-stdin']) {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

server.listen(port, args.host, () => {
  console.error(`provider: ${issuer} ready, signing keys ${JSON.stringify(kidsByAlg())}`);
});
