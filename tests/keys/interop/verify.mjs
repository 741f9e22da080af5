// Verifies authgate access tokens through its JWKS URL with the npm `jose` package.
//
// One long-lived remote key set, as a Node resource server keeps: argv[2] is JSON
// {jwksUrl, issuer, audience, algorithms, cooldownMs}; each stdin line is a token and
// each stdout line a JSON answer {ok, kid, sub, fetches} or {ok: false, code, fetches}.
import { createInterface } from "node:readline";
import { createRemoteJWKSet, customFetch, jwtVerify } from "jose";

const options = JSON.parse(process.argv[2]);
let fetches = 0;
const jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
  cooldownDuration: options.cooldownMs,
  [customFetch]: (...args) => {
    fetches += 1;
    return fetch(...args);
  },
});

async function verify(token) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: options.algorithms,
      typ: "at+jwt",
    });
    return { ok: true, kid: protectedHeader.kid, sub: payload.sub, fetches };
  } catch (error) {
    return { ok: false, code: error.code ?? error.name, fetches };
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim()) {
    process.stdout.write(`${JSON.stringify(await verify(line.trim()))}\n`);
  }
}
