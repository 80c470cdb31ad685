'use strict'
// The one place the JS wrappers build keel errors. Codes come from core's one vocabulary
// (keel_core::codes, through the addon's errorCodes()), never from a string typed in a
// wrapper: a name core does not know fails when the package loads, not when the error
// is finally thrown.

const { errorCodes } = require('./index.js')

const CORE_CODES = new Set(errorCodes())

/** `KEEL_<name>`, checked against core's vocabulary. */
function coreCode(name) {
  const c = `KEEL_${name}`
  if (!CORE_CODES.has(c)) throw new Error(`keel: ${c} is not one of core's error codes`)
  return c
}

/** The codes the JS wrappers throw themselves. */
const codes = Object.freeze({
  INVALID_ARGUMENT: coreCode('INVALID_ARGUMENT'),
  INVALID_OPTION: coreCode('INVALID_OPTION'),
  SUPERVISOR_ALREADY_RUNNING: coreCode('SUPERVISOR_ALREADY_RUNNING'),
  INTERNAL: coreCode('INTERNAL'),
  SERVICE_NOT_FOUND: coreCode('SERVICE_NOT_FOUND'),
})

/** `new Ctor(message)` carrying `code` (TypeError for a wrong type, RangeError for a bad value). */
function keelError(Ctor, code, message) {
  const err = new Ctor(message)
  err.code = code
  return err
}

/** A value's type for an error message: never the value, which may be a secret. */
function typeName(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (Buffer.isBuffer(v)) return 'Buffer'
  return typeof v
}

module.exports = { codes, coreCode, keelError, typeName }
