'use strict';
// A hash-chained audit log in a JSON-lines file: each line one canonical record
// {seq, ts, payload, prev_hash, hash, signature}. Appends to one path are serialized; the record
// is signed before it is written, so a signing failure leaves the file as it was.
const fs = require('node:fs');
const { KcError } = require('./errors');
const { canonicalize } = require('./jcs');
const { formatTime, nowMicros } = require('./clock');
const { auditDigest, FORMAT } = require('./verifier');
const prim = require('./primitives');

const PRODUCER = 'kmsconform-node-signer 0.1.0';
const locks = new Map(); // path -> tail of its promise chain

function withLock(path, fn) {
  const prev = locks.get(path) || Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => {});
  locks.set(path, tail);
  tail.then(() => {
    if (locks.get(path) === tail) locks.delete(path);
  });
  return run;
}

class AuditLog {
  /** `signer` is {alg, sign(digestBuffer) -> Promise<{kid, alg, sig}>}. */
  constructor(path, signer) {
    this.path = path;
    this.signer = signer;
  }

  records() {
    if (!fs.existsSync(this.path)) return [];
    const text = fs.readFileSync(this.path, 'utf8');
    return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  }

  append(payload) {
    return withLock(this.path, async () => {
      const records = this.records();
      const last = records.length ? records[records.length - 1] : null;
      const prevHash = last ? last.hash : null;
      const digest = auditDigest(payload, prevHash);
      const ts = formatTime(nowMicros());
      const signature = await this.signer.sign(digest); // before commit: a failure writes nothing
      const record = { seq: records.length, ts, payload, prev_hash: prevHash, hash: digest.toString('hex'), signature };
      fs.appendFileSync(this.path, canonicalize(record).toString('utf8') + '\n');
      return record;
    });
  }

  exportArchive(dest) {
    return withLock(this.path, async () => {
      const createdAt = formatTime(nowMicros());
      const lines = [canonicalize({ format: FORMAT, created_at: createdAt, producer: PRODUCER })];
      const h = require('node:crypto').createHash('sha256');
      const records = this.records();
      for (const record of records) {
        const line = canonicalize(record);
        h.update(line);
        h.update('\n');
        lines.push(line);
      }
      const body = {
        count: records.length,
        created_at: createdAt,
        head_hash: records.length ? records[records.length - 1].hash : null,
        records_sha256: h.digest('hex'),
      };
      const signature = await this.signer.sign(prim.sha256(canonicalize(body)));
      lines.push(canonicalize({ checkpoint: { ...body, signature } }));
      fs.writeFileSync(dest, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    });
  }
}

function requirePath(path) {
  if (typeof path !== 'string' || !path) throw new KcError('BAD_REQUEST', 'path must be a non-empty string');
  return path;
}

module.exports = { AuditLog, requirePath, PRODUCER };
