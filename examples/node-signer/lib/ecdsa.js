'use strict';
// ECDSA on P-256 over a 32-byte digest (FIPS 186-5), in BigInt arithmetic: Node's crypto.sign and
// crypto.verify always hash their input, and what we sign is already a SHA-256 digest.
// Example code: not constant time.
const crypto = require('node:crypto');

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const G = [
  0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
];

const mod = (a, m) => ((a % m) + m) % m;

function inverse(a, m) {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return mod(s0, m);
}

// Points in Jacobian coordinates [X, Y, Z]; Z = 0 is the point at infinity.
function double([x, y, z]) {
  if (z === 0n || y === 0n) return [0n, 1n, 0n];
  const yy = mod(y * y, P);
  const s = mod(4n * x * yy, P);
  const zz = mod(z * z, P);
  const m = mod(3n * (x - zz) * (x + zz), P); // a = -3
  const x3 = mod(m * m - 2n * s, P);
  const y3 = mod(m * (s - x3) - 8n * yy * yy, P);
  return [x3, y3, mod(2n * y * z, P)];
}

function add(p1, p2) {
  if (p1[2] === 0n) return p2;
  if (p2[2] === 0n) return p1;
  const [x1, y1, z1] = p1;
  const [x2, y2, z2] = p2;
  const z1z1 = mod(z1 * z1, P);
  const z2z2 = mod(z2 * z2, P);
  const u1 = mod(x1 * z2z2, P);
  const u2 = mod(x2 * z1z1, P);
  const s1 = mod(y1 * z2 * z2z2, P);
  const s2 = mod(y2 * z1 * z1z1, P);
  if (u1 === u2) return s1 === s2 ? double(p1) : [0n, 1n, 0n];
  const h = mod(u2 - u1, P);
  const r = mod(s2 - s1, P);
  const hh = mod(h * h, P);
  const hhh = mod(h * hh, P);
  const v = mod(u1 * hh, P);
  const x3 = mod(r * r - hhh - 2n * v, P);
  const y3 = mod(r * (v - x3) - s1 * hhh, P);
  return [x3, y3, mod(h * z1 * z2, P)];
}

function multiply(k, [x, y]) {
  let result = [0n, 1n, 0n];
  let addend = [x, y, 1n];
  while (k > 0n) {
    if (k & 1n) result = add(result, addend);
    addend = double(addend);
    k >>= 1n;
  }
  return result;
}

function affineX([x, , z]) {
  if (z === 0n) return null;
  const zi = inverse(z, P);
  return mod(x * zi * zi, P);
}

const toInt = (buf) => (buf.length === 0 ? 0n : BigInt('0x' + buf.toString('hex')));
const fromB64 = (text) => toInt(Buffer.from(text, 'base64url'));

function onCurve(x, y) {
  return x < P && y < P && mod(y * y - (x * x * x + A * x + B), P) === 0n;
}

// -- DER Ecdsa-Sig-Value ----------------------------------------------------------------------
function derInt(value) {
  let hex = value.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

function encodeDer(r, s) {
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** [r, s] from a strict DER signature, or null. */
function decodeDer(sig) {
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return null;
  const ints = [];
  let i = 2;
  for (let n = 0; n < 2; n++) {
    if (sig[i] !== 0x02) return null;
    const len = sig[i + 1];
    if (len === 0 || len > 33 || i + 2 + len > sig.length) return null;
    const bytes = sig.subarray(i + 2, i + 2 + len);
    if (bytes[0] & 0x80) return null; // negative
    if (len > 1 && bytes[0] === 0 && !(bytes[1] & 0x80)) return null; // not minimal
    ints.push(toInt(bytes));
    i += 2 + len;
  }
  return i === sig.length ? ints : null;
}

/** DER signature of `digest` (32 bytes) with the private JWK `jwk` ({d, x, y}). */
function sign(jwk, digest) {
  const d = fromB64(jwk.d);
  const e = toInt(digest);
  for (;;) {
    const k = toInt(crypto.randomBytes(32));
    if (k === 0n || k >= N) continue;
    const x = affineX(multiply(k, G));
    const r = mod(x, N);
    if (r === 0n) continue;
    const s = mod(inverse(k, N) * (e + r * d), N);
    if (s === 0n) continue;
    return encodeDer(r, s);
  }
}

/** Whether `sig` (DER) is a valid signature of `digest` under the public JWK `jwk` ({x, y}). */
function verify(jwk, digest, sig) {
  const rs = decodeDer(sig);
  if (rs === null) return false;
  const [r, s] = rs;
  if (r <= 0n || r >= N || s <= 0n || s >= N) return false;
  const q = [fromB64(jwk.x), fromB64(jwk.y)];
  if (!onCurve(q[0], q[1])) return false;
  const w = inverse(s, N);
  const e = toInt(digest);
  const point = add(multiply(mod(e * w, N), G), multiply(mod(r * w, N), q));
  const x = affineX(point);
  return x !== null && mod(x, N) === r;
}

module.exports = { sign, verify };
