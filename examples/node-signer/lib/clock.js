'use strict';
// Times as microseconds since the epoch (BigInt-free: < 2^53) and RFC 3339 UTC strings.
//
// From the wall clock (Date.now()), never from performance.timeOrigin + performance.now(): that
// monotonic sum drifts ahead of the wall clock over a process's life, so a key's not_before could
// land after a signing time the verifier read from the wall clock. Date.now() has millisecond
// resolution; events in the same millisecond get consecutive microseconds (a revocation is then
// later than a signature made just before it), never past the end of that millisecond, and times
// never go backwards within this process.
let last = 0;

function nowMicros() {
  const wall = Date.now() * 1000;
  last = Math.min(Math.max(wall, last + 1), Math.max(wall + 999, last));
  return last;
}

// "Now" for a verification asked without a time: the last microsecond of the current millisecond.
// A key another process made with a microsecond clock in this millisecond is then already valid
// (a fresh process's nowMicros() is the millisecond's start, before that key's not_before).
function verifyNowMicros() {
  return Math.max(Date.now() * 1000 + 999, last);
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

module.exports = { nowMicros, verifyNowMicros, formatTime, parseTime };
