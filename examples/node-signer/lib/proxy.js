'use strict';
// The `signing-proxy` backend kind: keys live in a signing proxy (docs/signing-proxy.md), reached
// with the handle's environment (SIGNING_PROXY_URL, SIGNING_PROXY_API_KEY, SIGNING_PROXY_ADMIN_KEY,
// SIGNING_PROXY_KEYS_PIN, SIGNING_PROXY_CA_FILE / _CLIENT_CERT / _CLIENT_KEY). Same interface as
// KeyRing, asynchronous. Rotation and revocation use the proxy's admin endpoints.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { KcError } = require('./errors');
const { canonicalize } = require('./jcs');
const { formatTime, nowMicros } = require('./clock');
const prim = require('./primitives');

const TIMEOUT_MS = 10000;
const ATTEMPTS = 5;
const RETRYABLE = new Set(['throttled', 'unavailable', 'timeout', 'internal']);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `fn()` again on a retryable backend error, at most ATTEMPTS times, with exponential backoff. */
async function retrying(fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retryable = err instanceof KcError && err.code === 'BACKEND_ERROR' && RETRYABLE.has(err.extra.backend_code);
      if (!retryable || attempt >= ATTEMPTS) throw err;
      await sleep(50 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
    }
  }
}

function backendError(code, message) {
  return new KcError('BACKEND_ERROR', message, { backend_code: code });
}

function thumbprint(jwk) {
  // RFC 7638 for an OKP key: the required members in lexicographic order.
  const json = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return crypto.createHash('sha256').update(json).digest('base64url');
}

class ProxyRing {
  constructor(env, alg) {
    if (!env.SIGNING_PROXY_URL) throw new KcError('BAD_REQUEST', 'signing-proxy backend without SIGNING_PROXY_URL');
    this.url = new URL(env.SIGNING_PROXY_URL);
    this.apiKey = env.SIGNING_PROXY_API_KEY || null;
    this.adminKey = env.SIGNING_PROXY_ADMIN_KEY || null;
    this.pin = env.SIGNING_PROXY_KEYS_PIN || null;
    this.tls = {};
    if (env.SIGNING_PROXY_CA_FILE) this.tls.ca = fs.readFileSync(env.SIGNING_PROXY_CA_FILE);
    if (env.SIGNING_PROXY_CLIENT_CERT) this.tls.cert = fs.readFileSync(env.SIGNING_PROXY_CLIENT_CERT);
    if (env.SIGNING_PROXY_CLIENT_KEY) this.tls.key = fs.readFileSync(env.SIGNING_PROXY_CLIENT_KEY);
    this.alg = alg;
    this.listeners = new Set();
  }

  async init() {
    const health = await this.request('GET', '/health');
    if (health.alg !== this.alg) throw new KcError('UNSUPPORTED', `the proxy signs ${health.alg}, not ${this.alg}`);
    return this;
  }

  request(method, path, body, key = this.apiKey) {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = { Accept: 'application/json' };
    if (data) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    if (key) headers.Authorization = `Bearer ${key}`;
    const transport = this.url.protocol === 'https:' ? https : http;
    const base = this.url.pathname.replace(/\/$/, '');
    return new Promise((resolve, reject) => {
      const req = transport.request(
        { host: this.url.hostname, port: this.url.port, path: base + path, method, headers, timeout: TIMEOUT_MS, ...this.tls },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            let parsed;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch (err) {
              return reject(backendError('corrupt_response', `${path}: response is not JSON`));
            }
            if (res.statusCode >= 200 && res.statusCode < 300) return resolve(parsed);
            return reject(this.httpError(path, res.statusCode, parsed && parsed.error ? parsed.error : {}));
          });
        },
      );
      req.on('timeout', () => req.destroy(backendError('timeout', `${path}: no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', (err) =>
        reject(err instanceof KcError ? err : backendError('unavailable', `${path}: ${err.code || err.message}`)),
      );
      if (data) req.write(data);
      req.end();
    });
  }

  httpError(path, status, error) {
    const text = `signing proxy ${path}: ${error.code || status}: ${error.message || ''}`;
    switch (error.code) {
      case 'KEY_REVOKED':
        return new KcError('KEY_REVOKED', text, { kid: error.kid || '' });
      case 'UNKNOWN_KEY':
        return new KcError('UNKNOWN_KEY', text);
      case 'NO_ACTIVE_KEY':
      case 'KEY_STATE':
        return new KcError('KEY_STATE', text);
      case 'SIGNING_FAILED':
        return new KcError('SIGNING_FAILED', text);
      case 'SIGNER_UNAVAILABLE':
        return backendError(error.backend_code || 'unavailable', text);
      default:
        if (status === 401 || status === 403) return backendError('access_denied', text);
        if (status === 429) return backendError('throttled', text);
        return backendError(status >= 500 ? 'internal' : 'invalid_request', text);
    }
  }

  async activeKid() {
    return (await retrying(() => this.request('GET', '/health'))).kid;
  }

  /** The key set: the JWS payload of GET /keys, checked under the metadata key (and its pin). */
  async jwks() {
    const res = await retrying(() => this.request('GET', '/keys'));
    const parts = typeof res.jws === 'string' ? res.jws.split('.') : [];
    const meta = res.metadata_key;
    if (parts.length !== 3 || !meta || meta.kty !== 'OKP' || meta.crv !== 'Ed25519') {
      throw new KcError('SIGNING_FAILED', '/keys: malformed signed key set');
    }
    if (this.pin !== null && thumbprint(meta) !== this.pin) throw new KcError('SIGNING_FAILED', '/keys: metadata key does not match the pin');
    const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: meta.x }, format: 'jwk' });
    const ok = crypto.verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'));
    if (!ok) throw new KcError('SIGNING_FAILED', '/keys: key set signature does not verify');
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (!canonicalize(payload).equals(canonicalize(res.jwks))) throw new KcError('SIGNING_FAILED', '/keys: jwks differs from the signed payload');
    return payload;
  }

  async sign(digest) {
    // Signing the same digest again is harmless: the record is written once, after a signature verifies.
    const res = await retrying(() => this.request('POST', '/sign/hash', { digest_hex: digest.toString('hex') }));
    const signature = { kid: res.kid, alg: res.alg, sig: Buffer.from(res.signature, 'base64url').toString('base64url') };
    if (signature.alg !== this.alg) throw new KcError('SIGNING_FAILED', `proxy signed with ${signature.alg}`);
    if (this.alg !== 'hmac-sha256') {
      // Never hand out a signature that does not verify under the published key.
      const member = (await this.jwks()).keys.find((k) => k.kid === signature.kid);
      if (!member || member.status === 'revoked') throw new KcError('SIGNING_FAILED', `proxy signed with unpublished or revoked ${signature.kid}`);
      try {
        prim.verifyDigest(this.alg, prim.publicKeyFromJwk(this.alg, member), digest, Buffer.from(signature.sig, 'base64url'));
      } catch (err) {
        throw new KcError('SIGNING_FAILED', `proxy signature does not verify under ${signature.kid}`);
      }
    }
    return signature;
  }

  async verify(digest, signature) {
    const body = { digest_hex: digest.toString('hex'), signature: { kid: signature.kid, alg: signature.alg, signature: signature.sig } };
    const res = await retrying(() => this.request('POST', '/verify', body));
    if (res.valid === true) return;
    if (res.reason === 'UNKNOWN_KEY') throw new KcError('UNKNOWN_KEY', `the proxy holds no key ${signature.kid}`);
    throw new KcError('INVALID_SIGNATURE', `signature does not verify under ${signature.kid} (${res.reason})`);
  }

  event(type, kid, extra = {}) {
    return { type: `key.${type}`, kid, alg: this.alg, backend: 'signing-proxy', at: formatTime(nowMicros()), ...extra };
  }

  admin() {
    if (!this.adminKey) throw new KcError('UNSUPPORTED', 'no SIGNING_PROXY_ADMIN_KEY: rotation and revocation are not available');
    return this.adminKey;
  }

  async rotate() {
    const res = await this.request('POST', '/admin/rotate', {}, this.admin());
    return [{ kid: res.kid }, [this.event('activated', res.kid)]];
  }

  async revoke(kid, reason) {
    const res = await this.request('POST', '/admin/revoke', { kid, reason }, this.admin());
    return [{ kid: res.kid }, [this.event('revoked', res.kid, { reason, revoked_at: res.revoked_at })]];
  }
}

module.exports = { ProxyRing };
