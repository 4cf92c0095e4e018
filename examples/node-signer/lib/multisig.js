'use strict';
// N-of-M manifests, format kmsconform-multisig/1 (docs/spec.md section 8): independent signatures
// over SHA256(JCS({format, payload, signers, threshold})); each allowed kid counts once; outsiders,
// duplicates and invalid signatures are ignored.
const { KcError } = require('./errors');
const { canonicalize } = require('./jcs');
const { nowMicros } = require('./clock');
const prim = require('./primitives');

const FORMAT = 'kmsconform-multisig/1';
const MEMBERS = ['format', 'payload', 'signatures', 'signers', 'threshold'];

function manifestDigest(m) {
  if (!m || m.format !== FORMAT) throw new KcError('MULTISIG_ERROR', `not a ${FORMAT} manifest`);
  const names = Object.keys(m).sort();
  if (names.join() !== MEMBERS.join()) throw new KcError('MULTISIG_ERROR', `manifest members must be ${MEMBERS}`);
  const { signers, threshold } = m;
  if (!Array.isArray(signers) || !signers.every((k) => typeof k === 'string' && k)) {
    throw new KcError('MULTISIG_ERROR', 'signers must be a list of non-empty kid strings');
  }
  if (new Set(signers).size !== signers.length) throw new KcError('MULTISIG_ERROR', 'signers lists a kid twice');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > signers.length) {
    throw new KcError('MULTISIG_ERROR', `threshold must be an integer between 1 and ${signers.length}`);
  }
  if (!Array.isArray(m.signatures)) throw new KcError('MULTISIG_ERROR', 'signatures must be a list');
  return prim.sha256(canonicalize({ format: FORMAT, payload: m.payload, signers, threshold }));
}

/** The kids that counted; throws THRESHOLD_NOT_MET below the threshold. `keys` is a KeySet. */
function verifyManifest(manifest, keys) {
  const digest = manifestDigest(manifest);
  const allowed = new Set(manifest.signers);
  const valid = [];
  const at = nowMicros();
  for (const s of manifest.signatures) {
    if (!s || typeof s.kid !== 'string' || typeof s.alg !== 'string' || typeof s.sig !== 'string') {
      throw new KcError('MULTISIG_ERROR', 'malformed signature entry');
    }
    if (!allowed.has(s.kid) || valid.includes(s.kid)) continue;
    try {
      keys.verify(s.kid, s.alg, digest, Buffer.from(s.sig, 'base64url'), at);
    } catch (err) {
      if (err instanceof KcError) continue; // an invalid signature does not count
      throw err;
    }
    valid.push(s.kid);
  }
  if (valid.length < manifest.threshold) {
    throw new KcError('THRESHOLD_NOT_MET', `${valid.length} of the required ${manifest.threshold} signatures are valid`, {
      valid,
      threshold: manifest.threshold,
    });
  }
  return valid;
}

module.exports = { verifyManifest };
