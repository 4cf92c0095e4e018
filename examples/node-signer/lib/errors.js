'use strict';
// Typed errors: `code` is one of the protocol's error codes (docs/protocol.md).

class KcError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    this.extra = extra;
  }
}

module.exports = { KcError };
