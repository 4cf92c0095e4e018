'use strict';
// RFC 8785 JSON Canonicalization Scheme for the JSON this program handles (parsed JSON values).
//  * object members sorted by their names as UTF-16 code unit sequences (JS string order);
//  * numbers in ES6 Number-to-String form (JSON.stringify does exactly that for finite numbers);
//  * strings escaped as JSON.stringify does ( \" \\ \b \f \n \r \t, other controls \u00xx ),
//    everything else as is; lone surrogates are refused (I-JSON, RFC 7493).
const { KcError } = require('./errors');

function hasLoneSurrogate(text) {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return true;
    }
  }
  return false;
}

function serialize(value) {
  if (value === null || value === true || value === false) return String(value);
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new KcError('CANONICALIZATION', `cannot canonicalize ${value}`);
      return JSON.stringify(value);
    case 'string':
      if (hasLoneSurrogate(value)) throw new KcError('CANONICALIZATION', 'string with a lone surrogate');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map(serialize).join(',') + ']';
      const names = Object.keys(value).sort();
      return '{' + names.map((k) => serialize(k) + ':' + serialize(value[k])).join(',') + '}';
    }
    default:
      throw new KcError('CANONICALIZATION', `cannot canonicalize a ${typeof value}`);
  }
}

/** The canonical UTF-8 bytes of `value`. */
function canonicalize(value) {
  return Buffer.from(serialize(value), 'utf8');
}

module.exports = { canonicalize, serialize };
