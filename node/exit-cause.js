'use strict'
// The exit-cause recorder, JavaScript half: `ensureExitCauseWatcher(options)` fills in
// the package's default watcher program — this Node (`process.execPath`) running
// exit-cause-watcher.js — and calls the native half (node/src/exit_cause.rs), where the
// options are parsed by keel-core exactly as C's keel_exit_cause_ensure parses them.
// disarmExitCauseWatcher, exitCauseWatcherStatus and tailExitLog are native as they are.

const path = require('node:path')
const { ensureExitCauseWatcherNative } = require('./index.js')

/** The watcher program keel starts when `options.watcherCommand` is absent. */
const DEFAULT_WATCHER_COMMAND = Object.freeze([process.execPath, path.join(__dirname, 'exit-cause-watcher.js')])

/**
 * Ensure one detached watcher records the dirty death of `options.pid`: an
 * `ev=server-exit` line in the exit log plus a forensics snapshot. Idempotent.
 */
function ensureExitCauseWatcher(options) {
  return ensureExitCauseWatcherNative(options, [...DEFAULT_WATCHER_COMMAND])
}

module.exports = { ensureExitCauseWatcher, DEFAULT_WATCHER_COMMAND }
