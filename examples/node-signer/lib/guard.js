'use strict';
// The production guard (seed 001): with NODE_ENV=production (any casing, blanks ignored) or
// REQUIRE_KMS true, refuse to start unless a KMS/HSM-backed signer is configured (AWS KMS or a
// signing proxy). The mock and local-key signers are never a fallback there.
// This example checks the configuration only; it does not call the backend.
const { KcError } = require('./errors');

const TRUE_VALUES = ['true', '1', 'yes', 'on'];

const set = (env, name) => typeof env[name] === 'string' && env[name].trim() !== '';

function configured(env) {
  if (set(env, 'AUDIT_SIGNING_KMS_KEY_ID')) return 'aws-kms';
  if (set(env, 'SIGNING_PROXY_URL')) return 'signing-proxy';
  if (['AUDIT_SIGNING_PRIVATE_KEY', 'AUDIT_SIGNING_SECRET', 'AUDIT_SIGNING_KEY'].some((n) => set(env, n))) return 'local';
  if (set(env, 'MOCK_AUDIT_SIGNING_KEY')) return 'mock';
  return 'none';
}

function strict(env) {
  const nodeEnv = (env.NODE_ENV || '').trim().toLowerCase();
  const requireKms = (env.REQUIRE_KMS || '').trim().toLowerCase();
  return nodeEnv === 'production' || TRUE_VALUES.includes(requireKms);
}

/** The signer kind the service would use; throws GUARD_REFUSED when the guard refuses. */
function checkStartup(env) {
  const kind = configured(env);
  if (strict(env) && kind !== 'aws-kms' && kind !== 'signing-proxy') {
    throw new KcError(
      'GUARD_REFUSED',
      'Audit signing is required: NODE_ENV=production or REQUIRE_KMS=true needs AWS KMS ' +
        '(AUDIT_SIGNING_KMS_KEY_ID) or a signing proxy (SIGNING_PROXY_URL); ' +
        `refusing to start with ${kind === 'none' ? 'no signer' : `the ${kind} signer`}`,
    );
  }
  return kind;
}

module.exports = { checkStartup, configured, strict };
