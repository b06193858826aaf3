// The peer OP of benches/run: node-oidc-provider configured like Kagi.
//
// Usage: node server.mjs CONFIG.json   (written by benches/run)
//
// - Keys: one RSA-2048 key each for RS256 and PS256, a P-256 key for ES256
//   and an Ed25519 key, like Kagi's key ring, generated on first start into
//   the file the config names and reused afterwards.
// - Clients: the same confidential clients as on Kagi (client_secret_basic,
//   one redirect URI, code + refresh_token grants), one signing ID tokens
//   with RS256 and one with ES256; access tokens are JWTs signed with the
//   client's algorithm (resource indicators with a default resource and
//   `accessTokenFormat: 'jwt'`). A third client gets the peer's opaque
//   access tokens, the only kind its userinfo endpoint accepts.
// - Refresh tokens are issued to every client allowed the grant and rotate
//   on every use, as Kagi's do.
// - Login: no UI. The authorization request of a new browser carries
//   `login_hint=<account>`; /interaction/:uid (this file) finishes the login
//   prompt for that account and grants the requested scopes at the consent
//   prompt, so the provider itself establishes the session and grant. Every
//   later authorization request of that browser is answered straight away
//   from its session cookie: that is the flow the bench measures.
// - Storage: process memory, through the small adapter below. The bundled
//   MemoryAdapter is an LRU capped at 1000 entries (dev only) whose grant
//   index is rewritten on every save; this one is a plain Map with expiry
//   and a Set per grant for revocation, the shape of the project's Redis
//   adapter example without the network. It gives the peer no storage cost
//   at all, so the comparison favours the peer.
// - GET /readyz answers 200 once the provider is listening.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function loadKeys(path) {
  if (fs.existsSync(path)) return JSON.parse(fs.readFileSync(path, 'utf8'));
  const jwk = (pair, alg) => ({
    ...pair.privateKey.export({ format: 'jwk' }),
    alg,
    use: 'sig',
    kid: crypto.randomUUID(),
  });
  const keys = [
    jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RS256'),
    jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'PS256'),
    jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ES256'),
    jwk(crypto.generateKeyPairSync('ed25519'), 'Ed25519'),
  ];
  fs.writeFileSync(path, JSON.stringify({ keys }), { mode: 0o600 });
  return { keys };
}

const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);
const store = new Map();
const grants = new Map();
const uids = new Map();
const epoch = () => Math.floor(Date.now() / 1000);

class Adapter {
  constructor(name) { this.name = name; }

  key(id) { return `${this.name}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (grantable.has(this.name) && payload.grantId) {
      let keys = grants.get(payload.grantId);
      if (!keys) grants.set(payload.grantId, (keys = new Set()));
      keys.add(key);
    }
    if (payload.uid) uids.set(payload.uid, id);
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.exp <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = uids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() { return undefined; }

  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = epoch();
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) store.delete(key);
    grants.delete(grantId);
  }
}

// Expired entries are dropped every minute, as Kagi's purge task does.
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) if (entry.exp <= now) store.delete(key);
  for (const [grantId, keys] of grants) {
    for (const key of keys) if (!store.has(key)) keys.delete(key);
    if (keys.size === 0) grants.delete(grantId);
  }
  for (const [uid, id] of uids) if (!store.has(`Session:${id}`)) uids.delete(uid);
}, 60_000).unref();

const resource = config.resource;
const clients = config.clients.map((c) => ({
  client_id: c.id,
  client_secret: c.secret,
  redirect_uris: [config.redirect_uri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: c.alg,
  jwt_access_token: c.jwt_access_token,
}));
const jwtClients = new Set(config.clients.filter((c) => c.jwt_access_token).map((c) => c.id));

const provider = new Provider(config.issuer, {
  adapter: Adapter,
  clients,
  extraClientMetadata: { properties: ['jwt_access_token'] },
  jwks: loadKeys(config.keys_file),
  cookies: { keys: [config.cookie_key] },
  // The same lifetimes as Kagi's defaults.
  ttl: {
    AuthorizationCode: 60,
    IdToken: 300,
    AccessToken: 600,
    RefreshToken: 2_592_000,
    Session: 43_200,
    Grant: 2_592_000,
    Interaction: 1800,
  },
  pkce: { required: () => true },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub }),
  }),
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => {
        if (oneOf) return oneOf;
        return jwtClients.has(client.clientId) ? resource : undefined;
      },
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator, client) => ({
        scope: 'openid',
        audience: indicator,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: client.idTokenSignedResponseAlg } },
      }),
    },
  },
});

// Finishes an interaction without UI: login for the hinted account, then
// consent to what the request asks.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      const accountId = String(params.login_hint || 'bench-anonymous');
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err && err.stack ? err.stack : err));
  }
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url === '/readyz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ready');
    return;
  }
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res);
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 30_000;
server.listen(config.port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
