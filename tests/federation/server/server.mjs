// A real OpenID Connect provider on loopback for authgate's tests: oauth2-mock-server,
// plus what a strict provider does that the mock leaves out (client authentication as
// its metadata says, PKCE required once a challenge was sent, single-use codes bound to
// their redirect_uri), plus a control API under /__control for the tests:
//   POST /__control/overrides  {idTokenClaims (null deletes), idTokenSignature: "rogue", tokenDelayMs,
//                               idTokenKid, authorizeIss, authorizeError, userinfo}
//                              (replaces the previous overrides)
//   POST /__control/rotate     new signing key; GET /__control/last  what was issued
// For the vault's tests it also keeps refresh tokens (rotated on use, unknown or used ones
// refused, override `refreshError` refuses all), answers RFC 7009 revocation at /revoke
// (listed in discovery) and echoes the authorized scope in the token response.
// Usage: node server.mjs '{"trailingSlash": false, "authMethod": "client_secret_basic",
//                          "clients": {"id": "secret"}, "issParameter": false}'
// Prints one JSON line {"port", "issuer"} once listening on 127.0.0.1.
import { createServer } from "node:http";
import { Buffer } from "node:buffer";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

const options = JSON.parse(process.argv[2] ?? "{}");
const authMethod = options.authMethod ?? "client_secret_basic";
const clients = options.clients ?? {};

const issuer = new OAuth2Issuer(options.trailingSlash ?? false);
await issuer.keys.generate("RS256");
const service = new OAuth2Service(issuer);
// An attacker's key: ID tokens signed with it carry the provider's real kid.
const rogue = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;

let overrides = {};
const codes = new Map();
const last = { idTokenKid: null, tokenRequests: [], jwksFetches: 0, refreshes: 0, revocations: [] };
const refreshTokens = new Map(); // refresh token -> { scope, live }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const url = redirect.url;
  const code = url.searchParams.get("code");
  if (code) {
    codes.set(code, {
      challenge: req.query.code_challenge,
      clientId: req.query.client_id,
      redirectUri: req.query.redirect_uri,
      scope: req.query.scope,
      used: false,
    });
  }
  if (overrides.authorizeError) {
    url.searchParams.delete("code");
    url.searchParams.set("error", overrides.authorizeError);
  }
  if (overrides.authorizeIss) url.searchParams.set("iss", overrides.authorizeIss);
  else if (options.issParameter) url.searchParams.set("iss", issuer.url);
});

service.on("beforeTokenSigning", (token) => {
  if (token.payload.scope !== undefined) {
    token.payload.jti = randomUUID(); // the access token: distinct even within one second
    return;
  }
  Object.assign(token.payload, {
    sub: "mock-user",
    email: "mock@example.com",
    email_verified: true,
    name: "Mock User",
  });
  for (const [claim, value] of Object.entries(overrides.idTokenClaims ?? {})) {
    if (value === null) delete token.payload[claim];
    else token.payload[claim] = value;
  }
  last.idTokenKid = token.header.kid;
  if (overrides.idTokenKid) token.header.kid = overrides.idTokenKid; // a label, not the key used
});

service.on("beforeUserinfo", (response) => {
  if (overrides.userinfo) response.body = overrides.userinfo;
});

function clientAuth(req) {
  const header = req.headers.authorization ?? "";
  if (header.startsWith("Basic ")) {
    const [id, secret] = Buffer.from(header.slice(6), "base64").toString().split(":");
    return { method: "client_secret_basic", id: decodeURIComponent(id), secret: decodeURIComponent(secret ?? "") };
  }
  if (req.body.client_secret !== undefined) {
    return { method: "client_secret_post", id: req.body.client_id, secret: req.body.client_secret };
  }
  return { method: "none", id: req.body.client_id, secret: undefined };
}

function refuse(response, status, error, description) {
  response.statusCode = status;
  response.body = { error, error_description: description };
}

service.on("beforeResponse", (response, req) => {
  const body = req.body;
  const auth = clientAuth(req);
  last.tokenRequests.push({ auth: auth.method, hasVerifier: "code_verifier" in body });
  if (auth.method !== authMethod || clients[auth.id] === undefined || clients[auth.id] !== auth.secret) {
    return refuse(response, 401, "invalid_client", `authenticate with ${authMethod}`);
  }
  if (body.grant_type === "refresh_token") return refresh(response, body);
  if (body.grant_type !== "authorization_code") return;
  const issued = codes.get(body.code);
  if (issued === undefined || issued.used) return refuse(response, 400, "invalid_grant", "unknown or used code");
  issued.used = true;
  if (issued.challenge && !body.code_verifier) return refuse(response, 400, "invalid_grant", "code_verifier required");
  if (issued.redirectUri !== body.redirect_uri) return refuse(response, 400, "invalid_grant", "redirect_uri differs");
  if (issued.clientId !== auth.id) return refuse(response, 400, "invalid_grant", "code issued to another client");
  response.body.scope = issued.scope;
  refreshTokens.set(response.body.refresh_token, { scope: issued.scope, live: true });
  if (overrides.idTokenSignature === "rogue" && response.body.id_token) {
    const [header, payload] = response.body.id_token.split(".");
    const forged = sign("sha256", Buffer.from(`${header}.${payload}`), rogue).toString("base64url");
    response.body.id_token = `${header}.${payload}.${forged}`;
  }
});

function refresh(response, body) {
  const known = refreshTokens.get(body.refresh_token);
  if (overrides.refreshError) return refuse(response, 400, overrides.refreshError, "refused by test");
  if (known === undefined || !known.live) return refuse(response, 400, "invalid_grant", "unknown or used refresh token");
  known.live = false; // rotation: each refresh token works once
  last.refreshes += 1;
  response.body.scope = known.scope;
  delete response.body.id_token;
  refreshTokens.set(response.body.refresh_token, { scope: known.scope, live: true });
}

async function revoke(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const form = new URLSearchParams(Buffer.concat(chunks).toString());
  const auth = clientAuth({ headers: req.headers, body: Object.fromEntries(form) });
  const authenticated = clients[auth.id] !== undefined && clients[auth.id] === auth.secret;
  const token = form.get("token");
  const known = refreshTokens.get(token);
  if (authenticated && known !== undefined) known.live = false;
  last.revocations.push({ token, hint: form.get("token_type_hint"), authenticated });
  if (!authenticated) return sendJson(res, 401, { error: "invalid_client" });
  res.writeHead(200);
  res.end();
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
}

function sendJson(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function discovery() {
  const base = issuer.url.replace(/\/$/, "");
  return {
    issuer: issuer.url,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    userinfo_endpoint: `${base}/userinfo`,
    jwks_uri: `${base}/jwks`,
    revocation_endpoint: `${base}/revoke`,
    response_types_supported: ["code"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    token_endpoint_auth_methods_supported: [authMethod],
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: Boolean(options.issParameter),
  };
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  try {
    if (path === "/__control/overrides" && req.method === "POST") {
      overrides = await readJson(req);
      return sendJson(res, 200, { ok: true });
    }
    if (path === "/__control/rotate" && req.method === "POST") {
      const key = await issuer.keys.generate("RS256");
      return sendJson(res, 200, { kid: key.kid });
    }
    if (path === "/__control/last") return sendJson(res, 200, last);
    if (path === "/.well-known/openid-configuration") return sendJson(res, 200, discovery());
    if (path === "/revoke" && req.method === "POST") return await revoke(req, res);
    if (path === "/jwks") last.jwksFetches += 1;
    if (path === "/token" && overrides.tokenDelayMs) await sleep(overrides.tokenDelayMs);
    service.requestHandler(req, res);
  } catch (error) {
    sendJson(res, 500, { error: "server_error", error_description: String(error) });
  }
});

await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();
issuer.url = `http://127.0.0.1:${port}${options.trailingSlash ? "/" : ""}`;
process.stdout.write(JSON.stringify({ port, issuer: issuer.url }) + "\n");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
