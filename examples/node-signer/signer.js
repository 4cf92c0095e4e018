#!/usr/bin/env node
'use strict';
// kmsconform-node-signer: an example implementation of the kmsconform subprocess protocol.
//
//   node signer.js                               serve the JSON-lines protocol on stdin/stdout
//   node signer.js verify-archive ARCHIVE JWKS   exit 0 iff the archive verifies (1: findings, 2: usage)
//   node signer.js service --check               the production guard on this environment
//                                                (exit 0: would start; 3: refused, message on stderr)
const fs = require('node:fs');

function main(argv) {
  const [mode, ...rest] = argv;
  if (mode === undefined) return require('./lib/server').serve();
  if (mode === 'verify-archive' && rest.length === 2) {
    const { KeySet, verifyArchive } = require('./lib/verifier');
    let findings;
    try {
      findings = verifyArchive(new KeySet(JSON.parse(fs.readFileSync(rest[1], 'utf8'))), rest[0]);
    } catch (err) {
      process.stderr.write(`verify-archive: ${err.message}\n`);
      return process.exit(2);
    }
    for (const f of findings) process.stdout.write(`${f.code} ${f.index === null ? '-' : f.index} ${f.message}\n`);
    return process.exit(findings.length ? 1 : 0);
  }
  if (mode === 'service' && rest.length === 1 && rest[0] === '--check') {
    const { checkStartup } = require('./lib/guard');
    try {
      const kind = checkStartup(process.env);
      process.stdout.write(`ok: would start with the ${kind} signer\n`);
      return process.exit(0);
    } catch (err) {
      process.stderr.write(`${err.message}\n`);
      return process.exit(3);
    }
  }
  process.stderr.write('usage: signer.js [verify-archive ARCHIVE JWKS | service --check]\n');
  return process.exit(2);
}

main(process.argv.slice(2));
