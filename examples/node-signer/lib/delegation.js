'use strict';
// Delegation certificates, kmsconform-delegation/1 (docs/spec.md section 12, seed 002): an issuer
// signs SHA256(JCS(certificate without "signature")) with any signer and embeds its current key;
// a chain [root, ..., leaf] verifies from the trusted root keys alone, no network, no KMS.
// Refusals are DELEGATION_REFUSED with one chain_code per defect, checked in the reference's order.
const crypto = require('node:crypto');
const { KcError } = require('./errors');
const { canonicalize } = require('./jcs');
const { parseTime, formatTime, nowMicros } = require('./clock');
const prim = require('./primitives');

const FORMAT = 'kmsconform-delegation/1';
const FIELDS = ['format', 'serial', 'issuer', 'issuer_key', 'subject', 'subject_key', 'capabilities',
  'not_before', 'not_after', 'parent', 'signature'];
const CERT_ALGORITHMS = ['ed25519', 'rsa-sha256', 'rsa-pss-sha256', 'ecdsa-p256-sha256'];
const KEY_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg'];
const THUMB_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'];

function refused(chainCode, message, index = null) {
  const where = index === null ? '' : `certificate ${index}: `;
  return new KcError('DELEGATION_REFUSED', `${where}${message}`, { chain_code: chainCode, index });
}

/** Keys compare by their public members only (kid and alg are labels). */
function keyId(jwk) {
  const members = {};
  for (const name of THUMB_MEMBERS) if (jwk && name in jwk) members[name] = jwk[name];
  return canonicalize(members).toString('hex');
}

const sha256 = (data) => crypto.createHash('sha256').update(data).digest();
const signedBytes = (cert) => canonicalize(Object.fromEntries(Object.entries(cert).filter(([k]) => k !== 'signature')));
const certDigest = (cert) => sha256(canonicalize(cert)).toString('hex');

/** `capability` is within `granted`: equal, under a `prefix.*` wildcard, or `*`. */
function covers(granted, capability) {
  return granted.some((g) => g === capability || g === '*' || (g.endsWith('.*') && capability.startsWith(g.slice(0, -1))));
}

function parseKey(jwk, where, index) {
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) throw refused('FORMAT_ERROR', `${where} must be a JWK object`, index);
  if (!CERT_ALGORITHMS.includes(jwk.alg)) throw refused('FORMAT_ERROR', `${where}: alg ${jwk.alg} cannot sign certificates`, index);
  try {
    return { alg: jwk.alg, key: prim.publicKeyFromJwk(jwk.alg, jwk) };
  } catch (err) {
    throw refused('FORMAT_ERROR', `${where}: ${err.message}`, index);
  }
}

function times(cert, index) {
  const before = parseTime(cert.not_before);
  const after = parseTime(cert.not_after);
  if (before === null || after === null) throw refused('FORMAT_ERROR', 'bad validity time', index);
  return [before, after];
}

function checkFormat(cert, index) {
  const isObject = cert && typeof cert === 'object' && !Array.isArray(cert);
  const keys = isObject ? Object.keys(cert).sort() : [];
  if (!isObject || keys.join() !== [...FIELDS].sort().join()) throw refused('FORMAT_ERROR', `not a ${FORMAT} certificate`, index);
  if (cert.format !== FORMAT) throw refused('FORMAT_ERROR', `format ${cert.format} is not ${FORMAT}`, index);
  for (const name of ['serial', 'issuer', 'subject']) {
    if (typeof cert[name] !== 'string' || !cert[name]) throw refused('FORMAT_ERROR', `${name} must be a non-empty string`, index);
  }
  const caps = cert.capabilities;
  if (!Array.isArray(caps) || !caps.every((c) => typeof c === 'string' && c)) {
    throw refused('FORMAT_ERROR', 'capabilities must be a list of strings', index);
  }
  if (cert.parent !== null && typeof cert.parent !== 'string') throw refused('FORMAT_ERROR', 'parent must be a hex digest or null', index);
  const [before, after] = times(cert, index);
  if (after <= before) throw refused('FORMAT_ERROR', 'not_after is not later than not_before', index);
}

function checkSignature(cert, index) {
  const { alg, key } = parseKey(cert.issuer_key, 'issuer_key', index);
  const s = cert.signature;
  if (!s || typeof s.kid !== 'string' || typeof s.sig !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s.sig)) {
    throw refused('FORMAT_ERROR', 'malformed signature', index);
  }
  if (s.alg !== alg) throw refused('BAD_SIGNATURE', `signed ${s.alg}, key is ${alg}`, index);
  try {
    prim.verifyDigest(alg, key, sha256(signedBytes(cert)), Buffer.from(s.sig, 'base64url'));
  } catch (err) {
    throw refused('BAD_SIGNATURE', 'signature does not verify under issuer_key', index);
  }
}

function checkNarrowing(parent, cert, index) {
  const wider = cert.capabilities.filter((c) => !covers(parent.capabilities, c));
  if (wider.length) throw refused('CAPABILITY_WIDENED', `widens the parent's capabilities with ${wider}`, index);
}

function checkWindow(parent, cert, index) {
  const [pBefore, pAfter] = times(parent, index);
  const [cBefore, cAfter] = times(cert, index);
  if (cAfter > pAfter || cBefore < pBefore) throw refused('OUTLIVES_PARENT', "validity is not inside the parent's", index);
}

/** The leaf's capabilities when `chain` verifies at `atText` (RFC 3339 or null: now) under `roots`. */
function verifyChain(chain, roots, atText) {
  const when = atText === null || atText === undefined ? nowMicros() : parseTime(atText);
  if (when === null) throw new KcError('BAD_REQUEST', `bad time ${atText}`);
  if (!roots || !Array.isArray(roots.keys)) throw new KcError('BAD_REQUEST', 'roots must be a key set');
  const trusted = new Set(roots.keys.filter((k) => k && typeof k === 'object').map(keyId));
  if (!Array.isArray(chain) || chain.length === 0) throw refused('FORMAT_ERROR', 'a chain is a non-empty list of certificates');
  let parent = null;
  chain.forEach((cert, index) => {
    checkFormat(cert, index);
    parseKey(cert.subject_key, 'subject_key', index);
    checkSignature(cert, index);
    if (parent === null) {
      if (!trusted.has(keyId(cert.issuer_key))) throw refused('UNTRUSTED_ROOT', 'the root is not signed by a trusted key', index);
      if (cert.parent !== null) throw refused('PARENT_MISMATCH', 'the root certificate names a parent', index);
    } else {
      if (keyId(cert.issuer_key) !== keyId(parent.subject_key)) throw refused('WRONG_KEY', "not signed by the parent's subject key", index);
      if (cert.parent !== certDigest(parent) || cert.issuer !== parent.subject) {
        throw refused('PARENT_MISMATCH', 'issued under another parent', index);
      }
      checkNarrowing(parent, cert, index);
      checkWindow(parent, cert, index);
    }
    const [before, after] = times(cert, index);
    if (when > after) throw refused('EXPIRED', `expired at ${cert.not_after}`, index);
    if (when < before) throw refused('NOT_YET_VALID', `not valid before ${cert.not_before}`, index);
    parent = cert;
  });
  return [...parent.capabilities];
}

/**
 * Issue a certificate with `vault` ({alg, key(): current public JWK, sign(digest): signature}); a
 * root passport without `parent`. Refuses what a verifier would refuse: a child that widens or
 * outlives its parent, or whose issuing key is not the parent's subject key.
 */
async function issue(vault, { name, subject, subjectKey, capabilities, notBefore, notAfter, parent }) {
  if (!CERT_ALGORITHMS.includes(vault.alg)) throw refused('WRONG_KEY', `${vault.alg} cannot sign certificates (no public key)`);
  const before = parseTime(notBefore);
  const after = parseTime(notAfter);
  if (before === null || after === null) throw new KcError('BAD_REQUEST', 'not_before and not_after must be RFC 3339 times');
  const body = {
    format: FORMAT,
    serial: crypto.randomBytes(16).toString('hex'),
    issuer: name,
    subject,
    subject_key: subjectKey,
    capabilities: [...new Set(capabilities)].sort(),
    not_before: formatTime(before),
    not_after: formatTime(after),
    parent: parent === null ? null : certDigest(parent),
  };
  if (after <= before) throw refused('FORMAT_ERROR', 'not_after must be later than not_before');
  const issuerKey = await vault.key();
  if (parent !== null) {
    if (keyId(issuerKey) !== keyId(parent.subject_key)) throw refused('WRONG_KEY', "the issuing key is not the parent's subject key");
    checkNarrowing(parent, body, null);
    checkWindow(parent, body, null);
  }
  body.issuer_key = issuerKey;
  body.signature = await vault.sign(sha256(signedBytes(body)));
  return body;
}

/** The current key of a signer's key set as embedded in certificates (public members, kid, alg). */
function currentKey(kid, jwks) {
  const member = (jwks.keys || []).find((m) => m && m.kid === kid);
  if (!member) throw refused('FORMAT_ERROR', `the signer publishes no key ${kid}`);
  return Object.fromEntries(KEY_MEMBERS.filter((k) => k in member).map((k) => [k, member[k]]));
}

module.exports = { issue, verifyChain, currentKey, FORMAT };
