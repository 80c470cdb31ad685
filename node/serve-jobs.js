'use strict'
// serveJobs: the job HTTP server (keel_server, the same routes, codes and limits as
// `keel serve` and the reference executor-harness server.ts) inside a Node host, with the
// host's JobRegistry instances as job kinds. The server runs on keel's threads; a
// `POST /jobs` of a host kind calls that registry's `start(jobId, body)` on this thread,
// so the host's work function runs exactly as for a local start.

const { serveJobsNative } = require('./index.js')
const { JobRegistry, NATIVES } = require('./jobs.js')
const { codes, keelError, typeName } = require('./errors.js')

const OWN_FIELDS = new Set(['kinds', 'defaultKinds', 'limits', 'env'])

function invalid(message) {
  return keelError(TypeError, codes.INVALID_ARGUMENT, message)
}

/**
 * Serve `options.kinds` (`{ name: JobRegistry }`) over HTTP. Server options are core's
 * `ServerOptions` (`port`, `bindHost`, `sharedSecret`, `maxBodyBytes`,
 * `requestTimeoutMs`, `maxConnections`, `shutdownGraceMs`, `allowUnauthenticated`); as in
 * the reference server, absent `port`, `bindHost` and `sharedSecret` come from `PORT`,
 * `HARNESS_BIND_HOST` and `HARNESS_SHARED_SECRET` in `options.env` (default
 * `process.env`). `defaultKinds: true` also serves keel's `command` and `turn` kinds
 * (with `limits`, a `RegistryOptions`). Resolves once listening with
 * `{ host, port, url, close(), closed }`; `close()` stops accepting, aborts every running
 * job and resolves when they settled (bounded by `shutdownGraceMs`).
 */
function serveJobs(options) {
  return new Promise((resolve, reject) => {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalid(`serveJobs: options must be an object (got ${typeName(options)})`)
    }
    const kinds = options.kinds ?? {}
    if (kinds === null || typeof kinds !== 'object' || Array.isArray(kinds)) {
      throw invalid(`serveJobs: options.kinds must be an object of JobRegistry (got ${typeName(kinds)})`)
    }
    const entries = []
    for (const [name, reg] of Object.entries(kinds)) {
      const native = reg instanceof JobRegistry ? NATIVES.get(reg) : undefined
      if (native === undefined) {
        throw invalid(`serveJobs: options.kinds.${name.slice(0, 40)} must be a JobRegistry (got ${typeName(reg)})`)
      }
      const start = (id, bodyJson) => {
        try {
          return JSON.stringify(reg.start(id, JSON.parse(bodyJson)))
        } catch (_) {
          return null
        }
      }
      entries.push([name, native, start])
    }
    const env = options.env ?? process.env
    const server = {}
    for (const [k, v] of Object.entries(options)) if (!OWN_FIELDS.has(k) && v !== undefined) server[k] = v
    if (server.port === undefined && env.PORT !== undefined && env.PORT !== '') {
      const port = Number(env.PORT)
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw keelError(RangeError, codes.INVALID_OPTION, 'PORT must be an integer from 0 to 65535')
      }
      server.port = port
    }
    if (server.bindHost === undefined && env.HARNESS_BIND_HOST) server.bindHost = env.HARNESS_BIND_HOST
    if (server.sharedSecret === undefined && env.HARNESS_SHARED_SECRET) server.sharedSecret = env.HARNESS_SHARED_SECRET
    let settleClosed
    let failClosed
    const closed = new Promise((res, rej) => {
      settleClosed = res
      failClosed = rej
    })
    closed.catch(() => {})
    let listening = false
    const handle = serveJobsNative(server, entries, options.defaultKinds === true, options.limits ?? null, (kind, payload) => {
      if (kind === 'listening') {
        listening = true
        const { host, port } = JSON.parse(payload)
        const urlHost = host.includes(':') ? `[${host}]` : host
        resolve({
          host,
          port,
          url: `http://${urlHost}:${port}`,
          close() {
            handle.close()
            return closed
          },
          closed,
        })
      } else if (kind === 'closed') {
        settleClosed()
      } else {
        let p = {}
        try {
          p = JSON.parse(payload)
        } catch (_) {}
        const err = keelError(Error, p.code || codes.INTERNAL, p.message || 'keel job server failed')
        if (listening) failClosed(err)
        else reject(err)
      }
    })
  })
}

module.exports = { serveJobs }
