'use strict'
// Package entry (CommonJS): the generated napi-rs binding (index.js) plus the
// pieces written in JavaScript. keel.mjs re-exports the same names for `import`.
const native = require('./index.js')
const { createRedactStream, RedactStream } = require('./redact-stream.js')

module.exports = {
  ...native,
  createRedactStream,
  RedactStream,
}
