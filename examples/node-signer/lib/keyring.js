'use strict';
// Key versions of one logical key: pending -> active -> retired, any -> revoked (docs/spec.md 3).
// Kids are `<label>-v<n>`. Backends: `local` (fresh keys in memory) and `mock` (deterministic HMAC
// from MOCK_AUDIT_SIGNING_KEY, per version).
const crypto = require('node:crypto');
const { KcError } = require('./errors');
const { formatTime, nowMicros } = require('./clock');
const prim = require('./primitives');

const BACKENDS = ['local', 'mock'];

function makeKey(backend, alg, kid) {
  if (backend.kind === 'local') return prim.generateKey(alg);
  if (backend.kind === 'mock') {
    if (alg !== 'hmac-sha256') throw new KcError('UNSUPPORTED', 'the mock backend only does hmac-sha256');
    const secret = backend.env.MOCK_AUDIT_SIGNING_KEY;
    if (!secret) throw new KcError('BAD_REQUEST', 'mock backend without MOCK_AUDIT_SIGNING_KEY');
    return { secret: crypto.createHmac('sha256', secret).update(kid).digest() };
  }
  throw new KcError('UNSUPPORTED', `backend kind ${backend.kind} is not supported (only ${BACKENDS})`);
}

class KeyRing {
  constructor(backend, alg, label) {
    if (!prim.ALGORITHMS.includes(alg)) throw new KcError('UNSUPPORTED', `unknown algorithm ${alg}`);
    this.backend = backend;
    this.alg = alg;
    this.label = label;
    this.versions = [];
    this.listeners = new Set(); // audit logs receiving key events
  }

  get(kid) {
    const v = this.versions.find((x) => x.kid === kid);
    if (!v) throw new KcError('UNKNOWN_KEY', `no key ${kid}`, { kid });
    return v;
  }

  active() {
    const v = this.versions.find((x) => x.status === 'active');
    if (!v) throw new KcError('KEY_STATE', 'no active key: it was revoked or retired; rotate first');
    return v;
  }

  activeKid() {
    return this.active().kid;
  }

  event(type, v, extra = {}) {
    return { type: `key.${type}`, kid: v.kid, alg: this.alg, backend: this.backend.kind, at: formatTime(nowMicros()), ...extra };
  }

  /** A new version that signs from now on; returns [version, events]. */
  rotate() {
    const kid = `${this.label}-v${this.versions.length + 1}`;
    const now = nowMicros();
    const v = { kid, status: 'pending', created_at: now, key: makeKey(this.backend, this.alg, kid) };
    this.versions.push(v);
    const events = [this.event('created', v)];
    for (const other of this.versions) {
      if (other.status === 'active') {
        other.status = 'retired';
        other.not_after = now; // cut-over grace 0: the old key verifies what it signed until now
        events.push(this.event('retired', other, { not_after: formatTime(now) }));
      }
    }
    v.status = 'active';
    v.not_before = now;
    events.push(this.event('activated', v));
    return [v, events];
  }

  revoke(kid, reason) {
    const v = this.get(kid);
    if (v.status === 'revoked') throw new KcError('KEY_STATE', `key ${kid} is already revoked`);
    v.status = 'revoked';
    v.revoked_at = nowMicros();
    return [v, [this.event('revoked', v, { reason, revoked_at: formatTime(v.revoked_at) })]];
  }

  sign(digest) {
    const v = this.active();
    const sig = prim.signDigest(this.alg, v.key, digest);
    if (!v.key.secret) {
      // Never hand out a signature that does not verify under the published key.
      try {
        prim.verifyDigest(this.alg, { publicKey: v.key.publicKey, jwk: v.key.publicJwk }, digest, sig);
      } catch (err) {
        throw new KcError('SIGNING_FAILED', `signature by ${v.kid} does not verify`);
      }
    }
    return { kid: v.kid, alg: this.alg, sig: sig.toString('base64url') };
  }

  verify(digest, signature) {
    const v = this.get(signature.kid);
    if (signature.alg !== this.alg) {
      throw new KcError('INVALID_SIGNATURE', `signature alg ${signature.alg} does not match key ${v.kid}`);
    }
    if (v.status === 'revoked') throw new KcError('KEY_REVOKED', `key ${v.kid} is revoked`, { kid: v.kid });
    const key = v.key.secret ? v.key : { publicKey: v.key.publicKey, jwk: v.key.publicJwk };
    prim.verifyDigest(this.alg, key, digest, Buffer.from(signature.sig, 'base64url'));
  }

  jwks() {
    const keys = [];
    for (const v of this.versions) {
      if (v.key.secret) continue; // HMAC keys never appear in a key set
      const member = { ...v.key.publicJwk, kid: v.kid, alg: this.alg, use: 'sig', status: v.status };
      member.created_at = formatTime(v.created_at);
      for (const name of ['not_before', 'not_after', 'revoked_at']) {
        if (v[name] !== undefined) member[name] = formatTime(v[name]);
      }
      keys.push(member);
    }
    return { keys };
  }
}

module.exports = { KeyRing, BACKENDS };
