#!/usr/bin/env node
// Veronica's OpenID Connect flow, checked by an independent relying party:
// panva's openid-client (a certified RP library), exactly as a site would use it.
//
// Two steps, so that something else (a person, or the Python test driving the
// simulated face login) can sign in between them:
//
//   node check.mjs start  --issuer URL --client-id ID --client-secret S --redirect-uri URI
//     → discovery, PKCE (S256), state, nonce; prints JSON
//       {authorization_url, code_verifier, state, nonce}
//
//   node check.mjs finish --issuer URL --client-id ID --client-secret S --redirect-uri URI
//                         --callback-url URL --code-verifier V --state S --nonce N
//     → the authorization response is validated (state, RFC 9207 iss), the code is
//       exchanged with client_secret_basic and PKCE, the ID token is validated
//       (signature against the JWKS, iss, aud, azp, exp, iat, nonce), then the
//       userinfo is fetched (its sub must equal the ID token's); prints JSON
//       {id_token_header, id_token_claims, userinfo, token_type, scope, expires_in}
//
// Any failure: a one-line explanation on stderr and exit status 1 (2 for bad usage).

import { parseArgs } from 'node:util'
import * as client from 'openid-client'

const USAGE = `usage:
  node check.mjs start  --issuer URL --client-id ID --client-secret S --redirect-uri URI [--scope "openid profile"]
  node check.mjs finish --issuer URL --client-id ID --client-secret S --redirect-uri URI
                        --callback-url URL --code-verifier V --state S --nonce N`

const COMMON = ['issuer', 'client-id', 'client-secret', 'redirect-uri']
const NEEDED = {
  start: COMMON,
  finish: [...COMMON, 'callback-url', 'code-verifier', 'state', 'nonce'],
}

class UsageError extends Error {}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string' },
      scope: { type: 'string', default: 'openid profile' },
      'callback-url': { type: 'string' },
      'code-verifier': { type: 'string' },
      state: { type: 'string' },
      nonce: { type: 'string' },
    },
  })
  const [step, ...rest] = positionals
  if (!(step in NEEDED) || rest.length > 0) {
    throw new UsageError(`expected one step, "start" or "finish"`)
  }
  const missing = NEEDED[step].filter((name) => !values[name])
  if (missing.length > 0) {
    throw new UsageError(`${step}: missing --${missing.join(', --')}`)
  }
  return { step, options: values }
}

function isLoopback(url) {
  return ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)
}

async function configure(options) {
  const issuer = new URL(options.issuer)
  const execute = []
  if (issuer.protocol === 'http:') {
    // openid-client refuses plain HTTP, rightly. The test issuer is a server on
    // the loopback interface of the machine running the test (http://127.0.0.1:<port>),
    // so HTTP is allowed for that case only; a real issuer is always https.
    if (!isLoopback(issuer)) {
      throw new Error(`refusing a plain-HTTP issuer that is not on loopback: ${issuer.href}`)
    }
    execute.push(client.allowInsecureRequests)
  }
  // A confidential client authenticating with HTTP Basic (client_secret_basic),
  // the method Veronica registers confidential clients with.
  return client.discovery(
    issuer,
    options['client-id'],
    { client_secret: options['client-secret'], redirect_uris: [options['redirect-uri']] },
    client.ClientSecretBasic(options['client-secret']),
    { execute },
  )
}

async function start(options) {
  const config = await configure(options)
  const codeVerifier = client.randomPKCECodeVerifier()
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier)
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: options['redirect-uri'],
    scope: options.scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  return {
    authorization_url: url.href,
    code_verifier: codeVerifier,
    state,
    nonce,
  }
}

function jwtHeader(jwt) {
  const [header] = String(jwt).split('.')
  return JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))
}

async function finish(options) {
  const config = await configure(options)
  const callback = new URL(options['callback-url'])
  const expected = new URL(options['redirect-uri'])
  if (callback.origin + callback.pathname !== expected.origin + expected.pathname) {
    throw new Error(`the callback ${callback.href} is not at the redirect URI ${expected.href}`)
  }
  // Validates the authorization response (state; iss, since the provider's metadata
  // says authorization_response_iss_parameter_supported), redeems the code with the
  // PKCE verifier, and validates the ID token: JWS signature against the JWKS, alg,
  // iss, aud, azp, exp, iat and nonce.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: options['code-verifier'],
    expectedState: options.state,
    expectedNonce: options.nonce,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  if (!claims) {
    throw new Error('the token response has no ID token')
  }
  // The userinfo response's sub must be the ID token's (checked by fetchUserInfo).
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  return {
    id_token_header: jwtHeader(tokens.id_token),
    id_token_claims: claims,
    userinfo,
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    expires_in: tokens.expiresIn() ?? null,
    refresh_token: tokens.refresh_token ?? null,
  }
}

function describe(error) {
  const parts = [`${error?.name ?? 'Error'}: ${error?.message ?? String(error)}`]
  if (error?.code) parts.push(`code=${error.code}`)
  if (error?.error) parts.push(`error=${error.error}`)
  if (error?.error_description) parts.push(`error_description=${error.error_description}`)
  if (error?.status) parts.push(`status=${error.status}`)
  let cause = error?.cause
  for (let depth = 0; cause !== undefined && depth < 4; depth += 1) {
    if (cause instanceof Error) {
      parts.push(`cause: ${cause.name}: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`)
      cause = cause.cause
    } else {
      let shown
      try {
        // URLSearchParams (the callback's parameters) would print as {}.
        shown = JSON.stringify(cause, (_, value) =>
          value instanceof URLSearchParams ? Object.fromEntries(value) : value,
        )
      } catch {
        shown = String(cause)
      }
      parts.push(`cause: ${shown}`)
      break
    }
  }
  return parts.join('; ')
}

async function main() {
  let parsed
  try {
    parsed = parse(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`check.mjs: ${error.message}\n${USAGE}\n`)
    return 2
  }
  try {
    const run = parsed.step === 'start' ? start : finish
    const out = await run(parsed.options)
    process.stdout.write(`${JSON.stringify(out)}\n`)
    return 0
  } catch (error) {
    process.stderr.write(`check.mjs ${parsed.step} failed: ${describe(error)}\n`)
    return 1
  }
}

process.exitCode = await main()
