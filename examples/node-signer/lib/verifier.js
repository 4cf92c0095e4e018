'use strict';
// The air-gapped verifier: signatures and kmsconform-audit-archive/1 files from a key set alone.
// Findings follow docs/spec.md section 7: one per code, at the first record index showing it.
const fs = require('node:fs');
const { KcError } = require('./errors');
const { canonicalize } = require('./jcs');
const { parseTime, verifyNowMicros } = require('./clock');
const prim = require('./primitives');

const FORMAT = 'kmsconform-audit-archive/1';
const HEX64 = /^[0-9a-f]{64}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

class KeySet {
  constructor(jwks) {
    if (!jwks || typeof jwks !== 'object' || !Array.isArray(jwks.keys)) {
      throw new KcError('BAD_REQUEST', 'a key set must be an object with a "keys" array');
    }
    this.entries = new Map();
    for (const m of jwks.keys) {
      if (!m || typeof m !== 'object' || typeof m.kid !== 'string' || !m.kid) {
        throw new KcError('BAD_REQUEST', 'key set member without a kid');
      }
      if (this.entries.has(m.kid)) throw new KcError('BAD_REQUEST', `duplicate kid ${m.kid}`);
      if (!prim.ALGORITHMS.includes(m.alg)) throw new KcError('BAD_REQUEST', `member ${m.kid}: unknown alg ${m.alg}`);
      const status = m.status === undefined ? 'active' : m.status;
      if (!['pending', 'active', 'retired', 'revoked'].includes(status)) {
        throw new KcError('BAD_REQUEST', `member ${m.kid}: unknown status ${status}`);
      }
      const times = {};
      for (const name of ['created_at', 'not_before', 'not_after', 'revoked_at']) {
        if (m[name] === undefined || m[name] === null) continue;
        times[name] = parseTime(m[name]);
        if (times[name] === null) throw new KcError('BAD_REQUEST', `member ${m.kid}: bad ${name}`);
      }
      if (status === 'retired' && times.not_after === undefined) {
        throw new KcError('BAD_REQUEST', `member ${m.kid} is retired but has no not_after`);
      }
      this.entries.set(m.kid, { kid: m.kid, alg: m.alg, status, ...times, key: prim.publicKeyFromJwk(m.alg, m) });
    }
  }

  /** Throws the protocol error for a signature that is not valid at `at` (microseconds). */
  verify(kid, alg, digest, sig, at) {
    const e = this.entries.get(kid);
    if (!e) throw new KcError('UNKNOWN_KEY', `no key ${kid} in the key set`, { kid });
    if (alg !== e.alg) throw new KcError('INVALID_SIGNATURE', `signature alg ${alg} does not match key ${kid}`);
    if (e.revoked_at !== undefined && at >= e.revoked_at) {
      throw new KcError('KEY_REVOKED', `key ${kid} was revoked`, { kid });
    }
    if (e.status === 'revoked' && e.revoked_at === undefined) throw new KcError('KEY_REVOKED', `key ${kid} is revoked`, { kid });
    if (e.not_before !== undefined && at < e.not_before) {
      throw new KcError('KEY_NOT_VALID_AT_TIME', `key ${kid} is not valid yet`, { kid });
    }
    if (e.not_after !== undefined && at > e.not_after) {
      throw new KcError('KEY_NOT_VALID_AT_TIME', `key ${kid} is no longer valid`, { kid });
    }
    if (e.status === 'pending' && e.created_at !== undefined && at < e.created_at) {
      throw new KcError('KEY_NOT_VALID_AT_TIME', `key ${kid} did not exist yet`, { kid });
    }
    prim.verifyDigest(alg, e.key, digest, sig);
  }
}

const FINDING_OF = {
  UNKNOWN_KEY: 'UNKNOWN_KEY',
  KEY_REVOKED: 'KEY_REVOKED',
  KEY_NOT_VALID_AT_TIME: 'KEY_NOT_VALID_AT_TIME',
  INVALID_SIGNATURE: 'BAD_SIGNATURE',
};

class Findings {
  constructor() {
    this.first = new Map();
    this.count = new Map();
  }

  add(code, index, message) {
    this.count.set(code, (this.count.get(code) || 0) + 1);
    const cur = this.first.get(code);
    if (cur === undefined || (index !== null && (cur.index === null || index < cur.index))) {
      this.first.set(code, { index, message });
    }
  }

  list() {
    const out = [];
    for (const [code, { index, message }] of this.first) {
      const n = this.count.get(code);
      out.push({ code, index, message: n === 1 ? message : `${message} (and ${n - 1} more)` });
    }
    return out.sort((a, b) => {
      if ((a.index === null) !== (b.index === null)) return a.index === null ? 1 : -1;
      return (a.index || 0) - (b.index || 0) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
    });
  }
}

function parseJson(buf) {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    return undefined;
  }
}

function isSignature(s) {
  return (
    s && typeof s === 'object' && !Array.isArray(s) && Object.keys(s).length === 3 &&
    typeof s.kid === 'string' && s.kid && prim.ALGORITHMS.includes(s.alg) && typeof s.sig === 'string' && B64URL.test(s.sig)
  );
}

function isRecord(r) {
  return (
    r && typeof r === 'object' && !Array.isArray(r) && Object.keys(r).length === 6 &&
    Number.isInteger(r.seq) && r.seq >= 0 && parseTime(r.ts) !== null &&
    r.payload && typeof r.payload === 'object' && !Array.isArray(r.payload) &&
    (r.prev_hash === null || (typeof r.prev_hash === 'string' && HEX64.test(r.prev_hash))) &&
    typeof r.hash === 'string' && HEX64.test(r.hash) && isSignature(r.signature)
  );
}

function parseCheckpoint(obj) {
  const c = obj.checkpoint;
  const names = ['count', 'created_at', 'head_hash', 'records_sha256', 'signature'];
  if (Object.keys(obj).length !== 1 || !c || typeof c !== 'object' || Array.isArray(c)) return null;
  if (Object.keys(c).length !== names.length || !names.every((n) => n in c)) return null;
  if (!Number.isInteger(c.count) || c.count < 0 || parseTime(c.created_at) === null) return null;
  if (!(c.head_hash === null || (typeof c.head_hash === 'string' && HEX64.test(c.head_hash)))) return null;
  if (typeof c.records_sha256 !== 'string' || !HEX64.test(c.records_sha256) || !isSignature(c.signature)) return null;
  return c;
}

/** SHA256(canonical(payload) || prev_hash bytes) */
function auditDigest(payload, prevHash) {
  return prim.sha256(canonicalize(payload), prevHash === null ? Buffer.alloc(0) : Buffer.from(prevHash, 'hex'));
}

function splitLines(data) {
  const lines = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0a) {
      lines.push(data.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < data.length) lines.push(data.subarray(start));
  return lines;
}

function signatureCheck(keys, findings, index, sig, digest, at) {
  try {
    keys.verify(sig.kid, sig.alg, digest, Buffer.from(sig.sig, 'base64url'), at);
  } catch (err) {
    if (!(err instanceof KcError)) throw err;
    findings.add(FINDING_OF[err.code] || 'BAD_SIGNATURE', index, `${index === null ? 'checkpoint' : `record ${index}`}: ${err.message}`);
  }
}

function verifyArchive(keys, path) {
  const findings = new Findings();
  const lines = splitLines(fs.readFileSync(path));
  if (lines.length === 0) {
    findings.add('TRUNCATED', 0, 'archive is empty: no header, no checkpoint');
    return findings.list();
  }
  const header = parseJson(lines[0]);
  if (!header || header.format !== FORMAT || typeof header.created_at !== 'string' || typeof header.producer !== 'string') {
    findings.add('FORMAT_ERROR', null, `header: first line must be a ${FORMAT} header`);
    return findings.list();
  }
  const recordsHash = require('node:crypto').createHash('sha256');
  let checkpoint = null;
  let count = 0;
  let prev = 'start'; // 'start', 'lost' or {seq, hash}
  let head = null;
  for (const line of lines.slice(1)) {
    if (checkpoint !== null) {
      findings.add('FORMAT_ERROR', count, 'line after the checkpoint');
      break;
    }
    const obj = parseJson(line);
    if (obj && typeof obj === 'object' && !Array.isArray(obj) && 'checkpoint' in obj) {
      checkpoint = parseCheckpoint(obj);
      if (checkpoint === null) {
        findings.add('FORMAT_ERROR', null, 'checkpoint: malformed');
        return findings.list();
      }
      continue;
    }
    const index = count;
    recordsHash.update(line);
    recordsHash.update('\n');
    count += 1;
    if (!isRecord(obj)) {
      findings.add('FORMAT_ERROR', index, `record ${index}: not a valid record`);
      prev = 'lost';
      head = null;
      continue;
    }
    if (prev === 'start') {
      if (obj.seq !== 0 || obj.prev_hash !== null) findings.add('CHAIN_BROKEN', index, `record ${index}: the chain does not start at genesis`);
    } else if (prev !== 'lost') {
      if (obj.prev_hash !== prev.hash) findings.add('CHAIN_BROKEN', index, `record ${index}: prev_hash is not the previous record's hash`);
      else if (obj.seq !== prev.seq + 1) findings.add('CHAIN_BROKEN', index, `record ${index}: seq ${obj.seq} does not follow ${prev.seq}`);
    }
    prev = { seq: obj.seq, hash: obj.hash };
    head = obj.hash;
    let digest;
    try {
      digest = auditDigest(obj.payload, obj.prev_hash);
    } catch (err) {
      findings.add('HASH_MISMATCH', index, `record ${index}: ${err.message}`);
      continue;
    }
    if (digest.toString('hex') !== obj.hash) {
      findings.add('HASH_MISMATCH', index, `record ${index}: hash is not the digest of its payload`);
      continue;
    }
    signatureCheck(keys, findings, index, obj.signature, digest, parseTime(obj.ts));
  }
  if (checkpoint === null) {
    findings.add('TRUNCATED', count, `no checkpoint after ${count} records: the tail is missing`);
    return findings.list();
  }
  if (checkpoint.count > count) findings.add('TRUNCATED', count, `checkpoint counts ${checkpoint.count} records, archive has ${count}`);
  else if (checkpoint.count < count) findings.add('ARCHIVE_DIGEST_MISMATCH', checkpoint.count, `archive has ${count} records, checkpoint counts ${checkpoint.count}`);
  else if (checkpoint.head_hash !== head) findings.add('CHAIN_BROKEN', Math.max(count - 1, 0), "last record is not the checkpoint's head_hash");
  if (checkpoint.records_sha256 !== recordsHash.digest('hex')) {
    findings.add('ARCHIVE_DIGEST_MISMATCH', null, 'records_sha256 does not match the records');
  }
  const body = { count: checkpoint.count, created_at: checkpoint.created_at, head_hash: checkpoint.head_hash, records_sha256: checkpoint.records_sha256 };
  signatureCheck(keys, findings, null, checkpoint.signature, prim.sha256(canonicalize(body)), parseTime(checkpoint.created_at));
  return findings.list();
}

function verifySignature(keys, digest, signature, atText) {
  const at = atText === null || atText === undefined ? verifyNowMicros() : parseTime(atText);
  if (at === null) throw new KcError('BAD_REQUEST', `bad time ${atText}`);
  keys.verify(signature.kid, signature.alg, digest, Buffer.from(signature.sig, 'base64url'), at);
}

module.exports = { KeySet, verifyArchive, verifySignature, auditDigest, FORMAT };
