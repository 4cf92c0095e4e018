'use strict';
// The JSON-lines protocol, version 1.1 (docs/protocol.md), on stdin/stdout. Requests are handled
// as they arrive; a handler awaiting a host.sign callback does not block the others. Delegation
// (1.1) is offered only to a host that announces 1.1 in KMSCONFORM_PROTOCOL; to a 1.0 host this
// child answers as a 1.0 child.
const path = require('node:path');
const readline = require('node:readline');
const { KcError } = require('./errors');
const { KeyRing, BACKENDS } = require('./keyring');
const { ProxyRing } = require('./proxy');
const { AuditLog, requirePath } = require('./audit');
const { KeySet, verifyArchive, verifySignature } = require('./verifier');
const { checkStartup } = require('./guard');
const { verifyManifest } = require('./multisig');
const delegation = require('./delegation');
const prim = require('./primitives');

const PROTOCOL = 1;
const MINOR = 1;
const NAME = 'kmsconform-node-signer';
const VERSION = '0.1.0';
const MAIN = path.resolve(__dirname, '..', 'signer.js');
const HEX64 = /^[0-9a-f]{64}$/;

function digestOf(hex) {
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new KcError('BAD_REQUEST', 'digest must be 64 lower-case hex');
  return Buffer.from(hex, 'hex');
}

/** The minor version the host announced (`1.1` -> 1), or null for a 1.0 host (it announces nothing). */
function hostMinor() {
  const m = /^1\.(\d+)$/.exec(process.env.KMSCONFORM_PROTOCOL || '');
  return m ? Number(m[1]) : null;
}

function signatureOf(s) {
  if (!s || typeof s.kid !== 'string' || typeof s.alg !== 'string' || typeof s.sig !== 'string') {
    throw new KcError('BAD_REQUEST', 'signature must be {kid, alg, sig}');
  }
  return s;
}

class Server {
  constructor(output) {
    this.output = output;
    this.handles = new Map(); // id -> {type, value}
    this.next = 0;
    this.callbacks = new Map(); // cb -> {resolve, reject}
    this.nextCb = 0;
  }

  add(type, value) {
    const id = `${type[0]}${++this.next}`;
    this.handles.set(id, { type, value });
    return id;
  }

  get(type, id) {
    const h = this.handles.get(id);
    if (!h || h.type !== type) throw new KcError('NOT_FOUND', `no ${type} ${id}`);
    return h.value;
  }

  write(message) {
    this.output.write(JSON.stringify(message) + '\n');
  }

  callback(op, params) {
    const cb = ++this.nextCb;
    return new Promise((resolve, reject) => {
      this.callbacks.set(cb, { resolve, reject, op });
      this.write({ cb, op, ...params });
    });
  }

  hostSign(signer, digest) {
    return this.callback('host.sign', { signer, digest: digest.toString('hex') }).then((r) => r.signature);
  }

  /** An issuer's key: one of this child's signers, or the host's (host.keyset and host.sign, 1.1). */
  vaultOf(m) {
    if (m.signer !== undefined) {
      const ring = this.get('signer', m.signer);
      return {
        alg: ring.alg,
        key: async () => delegation.currentKey(await ring.activeKid(), await ring.jwks()),
        sign: async (digest) => ring.sign(digest),
      };
    }
    const hostId = m.host_signer.id;
    return {
      alg: m.host_signer.alg,
      key: async () => {
        const answer = await this.callback('host.keyset', { signer: hostId });
        return delegation.currentKey(answer.kid, answer.jwks);
      },
      sign: (digest) => this.hostSign(hostId, digest),
    };
  }

  async keyEvents(ring, events) {
    for (const log of ring.listeners) for (const e of events) await log.append(e);
  }

  ops() {
    return {
      hello: (m) => {
        if (m.protocol !== PROTOCOL) throw new KcError('UNSUPPORTED', `protocol ${m.protocol} is not ${PROTOCOL}`);
        const host = hostMinor();
        const minor = Math.min(host === null ? 0 : host, MINOR);
        const capabilities = [
          'sign', 'verifier', 'verifier_command', 'rotation', 'revocation', 'audit_log', 'guard', 'service_command', 'multisig',
        ];
        if (minor >= 1) capabilities.push('delegation');
        return {
          protocol: PROTOCOL,
          ...(host === null ? {} : { minor }),
          implementation: { name: NAME, version: VERSION },
          capabilities,
          algorithms: prim.ALGORITHMS,
          backends: [...BACKENDS, 'signing-proxy'],
          service_command: [process.execPath, MAIN, 'service', '--check'],
          verifier_command: [process.execPath, MAIN, 'verify-archive', '{archive}', '{jwks}'],
        };
      },
      open_signer: async (m) => {
        const env = m.backend.env || {};
        if (m.backend.kind === 'signing-proxy') {
          const ring = await new ProxyRing(env, m.alg).init();
          return { signer: this.add('signer', ring), kid: await ring.activeKid() };
        }
        const ring = new KeyRing({ kind: m.backend.kind, env }, m.alg, m.label);
        const [v] = ring.rotate();
        return { signer: this.add('signer', ring), kid: v.kid };
      },
      signer_info: async (m) => {
        const ring = this.get('signer', m.signer);
        return { kid: await ring.activeKid(), alg: ring.alg };
      },
      sign: async (m) => ({ signature: await this.get('signer', m.signer).sign(digestOf(m.digest)) }),
      verify: async (m) => {
        await this.get('signer', m.signer).verify(digestOf(m.digest), signatureOf(m.signature));
        return {};
      },
      keyset: async (m) => ({ jwks: await this.get('signer', m.signer).jwks() }),
      rotate: async (m) => {
        const ring = this.get('signer', m.signer);
        const [v, events] = await ring.rotate();
        await this.keyEvents(ring, events);
        return { kid: v.kid };
      },
      revoke: async (m) => {
        const ring = this.get('signer', m.signer);
        const [v, events] = await ring.revoke(m.kid, m.reason || 'unspecified');
        await this.keyEvents(ring, events);
        return { kid: v.kid, revoked_at: events[0].revoked_at };
      },
      close_signer: (m) => {
        this.get('signer', m.signer);
        this.handles.delete(m.signer);
        return {};
      },
      'audit.open': (m) => {
        let signer;
        let ring = null;
        if (m.signer !== undefined) {
          ring = this.get('signer', m.signer);
          signer = { alg: ring.alg, sign: async (d) => ring.sign(d) };
        } else {
          const hostId = m.host_signer.id;
          signer = { alg: m.host_signer.alg, sign: (d) => this.hostSign(hostId, d) };
        }
        const log = new AuditLog(requirePath(m.path), signer);
        if (ring !== null) ring.listeners.add(log);
        return { log: this.add('log', { log, ring }) };
      },
      'audit.append': async (m) => {
        if (!m.payload || typeof m.payload !== 'object' || Array.isArray(m.payload)) {
          throw new KcError('BAD_REQUEST', 'payload must be an object');
        }
        return { record: await this.get('log', m.log).log.append(m.payload) };
      },
      'audit.records': (m) => ({ records: this.get('log', m.log).log.records() }),
      'audit.export': async (m) => {
        await this.get('log', m.log).log.exportArchive(requirePath(m.dest));
        return {};
      },
      'audit.close': (m) => {
        const { log, ring } = this.get('log', m.log);
        if (ring !== null) ring.listeners.delete(log);
        this.handles.delete(m.log);
        return {};
      },
      'verifier.verify': (m) => {
        verifySignature(new KeySet(m.jwks), digestOf(m.digest), signatureOf(m.signature), m.at);
        return {};
      },
      'verifier.verify_archive': (m) => ({ findings: verifyArchive(new KeySet(m.jwks), requirePath(m.path)) }),
      'multisig.verify': (m) => ({ kids: verifyManifest(m.manifest, new KeySet(m.jwks)) }),
      start_service: (m) => ({ service: this.add('service', checkStartup(m.env || {})) }),
      stop_service: (m) => {
        this.get('service', m.service);
        this.handles.delete(m.service);
        return {};
      },
      'delegation.issue': async (m) => ({
        certificate: await delegation.issue(this.vaultOf(m), {
          name: m.name,
          subject: m.subject,
          subjectKey: m.subject_key,
          capabilities: m.capabilities,
          notBefore: m.not_before,
          notAfter: m.not_after,
          parent: m.parent,
        }),
      }),
      'delegation.verify': (m) => ({ capabilities: delegation.verifyChain(m.chain, m.roots, m.at) }),
      shutdown: () => ({}),
    };
  }

  async handle(m) {
    const op = this.ops()[m.op];
    if (!op) throw new KcError('UNKNOWN_OP', `unknown op ${m.op}`);
    return op(m);
  }

  onLine(line) {
    let m;
    try {
      m = JSON.parse(line);
    } catch (err) {
      process.stderr.write(`ignoring a line that is not JSON: ${line.slice(0, 200)}\n`);
      return;
    }
    if (m && m.cb !== undefined) {
      const pending = this.callbacks.get(m.cb);
      if (!pending) return process.stderr.write(`reply to unknown callback ${m.cb}\n`);
      this.callbacks.delete(m.cb);
      if (m.ok) pending.resolve(m);
      else if (pending.op === 'host.sign') pending.reject(new KcError('SIGNING_FAILED', `host signer: ${m.error.message}`));
      else pending.reject(new KcError(m.error.code, `host ${pending.op}: ${m.error.message}`));
      return;
    }
    Promise.resolve()
      .then(() => this.handle(m))
      .then(
        (result) => {
          this.write({ id: m.id, ok: true, ...result });
          if (m.op === 'shutdown') process.stdout.end(() => process.exit(0));
        },
        (err) => {
          const error = err instanceof KcError
            ? { code: err.code, message: err.message, ...err.extra }
            : { code: 'INTERNAL', message: `${err && err.name}: ${err && err.message}` };
          if (!(err instanceof KcError)) process.stderr.write(`${err && err.stack}\n`);
          this.write({ id: m.id, ok: false, error });
        },
      );
  }
}

function serve() {
  const server = new Server(process.stdout);
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => server.onLine(line));
  rl.on('close', () => process.exit(0));
}

module.exports = { serve, Server };
