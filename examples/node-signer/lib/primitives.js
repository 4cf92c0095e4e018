'use strict';
// What is signed is always a 32-byte audit digest (docs/spec.md section 1):
//  ed25519 signs the 32 bytes as its message; rsa-sha256 / rsa-pss-sha256 / ecdsa-p256-sha256 sign
//  them as a pre-hashed SHA-256 value; hmac-sha256 MACs them.
const crypto = require('node:crypto');
const ecdsa = require('./ecdsa');
const { KcError } = require('./errors');

const ALGORITHMS = ['ed25519', 'rsa-sha256', 'rsa-pss-sha256', 'ecdsa-p256-sha256', 'hmac-sha256'];
const SALT = 32;
const DIGEST_INFO_SHA256 = Buffer.from('3031300d060960864801650304020105000420', 'hex');
const { RSA_PKCS1_PADDING, RSA_NO_PADDING } = crypto.constants;

// The deliberately broken variant of the tests (KMSCONFORM_NODE_BROKEN=accept-any-signature):
// every signature check succeeds. The suites must catch it.
const ACCEPT_ANY = process.env.KMSCONFORM_NODE_BROKEN === 'accept-any-signature';

const sha256 = (...parts) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

function mgf1(seed, length) {
  const out = [];
  for (let counter = 0; out.length * 32 < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(sha256(seed, c));
  }
  return Buffer.concat(out).subarray(0, length);
}

function modulusBits(key) {
  return key.asymmetricKeyDetails.modulusLength;
}

// EMSA-PSS-ENCODE (RFC 8017 section 9.1.1), SHA-256, MGF1-SHA-256, salt 32.
function pssEncode(mHash, emBits) {
  const emLen = Math.ceil(emBits / 8);
  const salt = crypto.randomBytes(SALT);
  const h = sha256(Buffer.alloc(8), mHash, salt);
  const db = Buffer.concat([Buffer.alloc(emLen - SALT - 32 - 2), Buffer.from([1]), salt]);
  const masked = mgf1(h, emLen - 33).map((b, i) => b ^ db[i]);
  masked[0] &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([masked, h, Buffer.from([0xbc])]);
}

// EMSA-PSS-VERIFY (RFC 8017 section 9.1.2) with a salt of exactly 32 bytes.
function pssVerify(mHash, em, emBits) {
  const emLen = Math.ceil(emBits / 8);
  if (em.length !== emLen || em[emLen - 1] !== 0xbc || emLen < 32 + SALT + 2) return false;
  const masked = em.subarray(0, emLen - 33);
  const h = em.subarray(emLen - 33, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if (masked[0] & ~topMask & 0xff) return false;
  const db = mgf1(h, emLen - 33).map((b, i) => b ^ masked[i]);
  db[0] &= topMask;
  const psLen = emLen - 32 - SALT - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 1) return false;
  const salt = db.subarray(db.length - SALT);
  return crypto.timingSafeEqual(sha256(Buffer.alloc(8), mHash, salt), h);
}

function rawRsa(key, data, isPrivate) {
  const k = Math.ceil(modulusBits(key) / 8);
  const input = Buffer.concat([Buffer.alloc(k - data.length), data]);
  return isPrivate
    ? crypto.privateEncrypt({ key, padding: RSA_NO_PADDING }, input)
    : crypto.publicDecrypt({ key, padding: RSA_NO_PADDING }, input);
}

/** Sign a 32-byte digest. `key` is {privateKey, jwk (private)} or {secret} for HMAC. */
function signDigest(alg, key, digest) {
  switch (alg) {
    case 'ed25519':
      return crypto.sign(null, digest, key.privateKey);
    case 'rsa-sha256':
      return crypto.privateEncrypt(
        { key: key.privateKey, padding: RSA_PKCS1_PADDING },
        Buffer.concat([DIGEST_INFO_SHA256, digest]),
      );
    case 'rsa-pss-sha256': {
      const bits = modulusBits(key.privateKey);
      return rawRsa(key.privateKey, pssEncode(digest, bits - 1), true);
    }
    case 'ecdsa-p256-sha256':
      return ecdsa.sign(key.jwk, digest);
    case 'hmac-sha256':
      return crypto.createHmac('sha256', key.secret).update(digest).digest();
    default:
      throw new KcError('UNSUPPORTED', `unknown algorithm ${alg}`);
  }
}

function checkSignature(alg, key, digest, sig) {
  switch (alg) {
    case 'ed25519':
      return sig.length === 64 && crypto.verify(null, digest, key.publicKey, sig);
    case 'rsa-sha256': {
      const k = Math.ceil(modulusBits(key.publicKey) / 8);
      if (sig.length !== k) return false;
      const expected = Buffer.concat([DIGEST_INFO_SHA256, digest]);
      const got = crypto.publicDecrypt({ key: key.publicKey, padding: RSA_PKCS1_PADDING }, sig);
      return got.length === expected.length && crypto.timingSafeEqual(got, expected);
    }
    case 'rsa-pss-sha256': {
      const bits = modulusBits(key.publicKey);
      const k = Math.ceil(bits / 8);
      if (sig.length !== k) return false;
      let em = rawRsa(key.publicKey, sig, false);
      const emLen = Math.ceil((bits - 1) / 8);
      if (em.length > emLen) {
        if (em.subarray(0, em.length - emLen).some((b) => b !== 0)) return false;
        em = em.subarray(em.length - emLen);
      }
      return pssVerify(digest, em, bits - 1);
    }
    case 'ecdsa-p256-sha256':
      return ecdsa.verify(key.jwk, digest, sig);
    case 'hmac-sha256': {
      const tag = crypto.createHmac('sha256', key.secret).update(digest).digest();
      return sig.length === tag.length && crypto.timingSafeEqual(sig, tag);
    }
    default:
      return false;
  }
}

/** Throws INVALID_SIGNATURE unless `sig` verifies; `key` is {publicKey, jwk} or {secret}. */
function verifyDigest(alg, key, digest, sig) {
  if (ACCEPT_ANY) return;
  let ok = false;
  try {
    ok = checkSignature(alg, key, digest, sig);
  } catch (err) {
    ok = false; // malformed input to the primitive: not a valid signature
  }
  if (!ok) throw new KcError('INVALID_SIGNATURE', `${alg} signature does not verify`);
}

/** A fresh key: {privateKey, publicKey, jwk (private), publicJwk} or {secret}. */
function generateKey(alg) {
  let pair;
  switch (alg) {
    case 'ed25519':
      pair = crypto.generateKeyPairSync('ed25519');
      break;
    case 'rsa-sha256':
    case 'rsa-pss-sha256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ecdsa-p256-sha256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'hmac-sha256':
      return { secret: crypto.randomBytes(32) };
    default:
      throw new KcError('UNSUPPORTED', `unknown algorithm ${alg}`);
  }
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    jwk: pair.privateKey.export({ format: 'jwk' }),
    publicJwk: pair.publicKey.export({ format: 'jwk' }),
  };
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** The verification key of a public JWK member for `alg`; throws BAD_REQUEST when it does not fit. */
function publicKeyFromJwk(alg, member) {
  const kid = member.kid;
  if (member.kty === 'oct' || alg === 'hmac-sha256') {
    throw new KcError('BAD_REQUEST', `key set member ${kid}: symmetric keys never go in a key set`);
  }
  const leaked = PRIVATE_MEMBERS.filter((m) => m in member);
  if (leaked.length) throw new KcError('BAD_REQUEST', `key set member ${kid} has private members ${leaked}`);
  const expected = {
    ed25519: ['OKP', 'Ed25519'],
    'rsa-sha256': ['RSA', undefined],
    'rsa-pss-sha256': ['RSA', undefined],
    'ecdsa-p256-sha256': ['EC', 'P-256'],
  }[alg];
  if (!expected || member.kty !== expected[0] || member.crv !== expected[1]) {
    throw new KcError('BAD_REQUEST', `key set member ${kid}: kty/crv do not fit alg ${alg}`);
  }
  const material = { kty: member.kty };
  for (const name of ['crv', 'x', 'y', 'n', 'e']) if (name in member) material[name] = member[name];
  let publicKey;
  try {
    publicKey = crypto.createPublicKey({ key: material, format: 'jwk' });
  } catch (err) {
    throw new KcError('BAD_REQUEST', `key set member ${kid}: bad key material (${err.message})`);
  }
  if (member.kty === 'RSA' && modulusBits(publicKey) < 2048) {
    throw new KcError('BAD_REQUEST', `key set member ${kid}: RSA modulus under 2048 bits`);
  }
  return { publicKey, jwk: material };
}

module.exports = { ALGORITHMS, signDigest, verifyDigest, generateKey, publicKeyFromJwk, sha256 };
