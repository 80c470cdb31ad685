'use strict'
// The exit-cause watcher process that ensureExitCauseWatcher starts by default:
// `node exit-cause-watcher.js <spec JSON>`. keel appends the spec as the last argument;
// runExitCauseWatcher prints the readiness line, then blocks until the watched process
// ends (recording its death unless disarmed) or this process is signalled.
const { runExitCauseWatcher } = require('./index.js')

const spec = process.argv.length > 2 ? process.argv[process.argv.length - 1] : ''
process.exit(runExitCauseWatcher(spec))
