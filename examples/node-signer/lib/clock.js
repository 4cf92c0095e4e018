'use strict';
// Times as microseconds since the epoch (BigInt-free: < 2^53) and RFC 3339 UTC strings.
const { performance } = require('node:perf_hooks');

function nowMicros() {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** `2026-11-22T12:00:00.123456Z` */
function formatTime(micros) {
  const ms = Math.floor(micros / 1000);
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}.${String(micros % 1000000).padStart(6, '0')}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Microseconds since the epoch, or null when `text` is not RFC 3339 with an offset. */
function parseTime(text) {
  if (typeof text !== 'string') return null;
  const m = RFC3339.exec(text);
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (Number.isNaN(ms)) return null;
  const frac = m[7] ? Number((m[7] + '000000').slice(0, 6)) : 0;
  let offset = 0;
  if (m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    offset = sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60 * 1000000;
  }
  return ms * 1000 + frac - offset;
}

module.exports = { nowMicros, formatTime, parseTime };
