// Types of node/serve-jobs.js: the job HTTP server inside a Node host.
// The option shapes are generated from keel-core's serde types into types.d.ts.
import type { JobRegistry } from './jobs'
import type { RegistryOptions } from './types'

/** keel_server's `ServerOptions` (the server crate's schema; every field optional). */
export interface ServerOptions {
  /** Default 8080 (or `PORT`); 0 picks a free port. */
  port?: number
  /** Default `127.0.0.1` (or `HARNESS_BIND_HOST`). */
  bindHost?: string
  /** Required in `x-harness-secret` on every route but `/health` (or `HARNESS_SHARED_SECRET`). */
  sharedSecret?: string | null
  maxBodyBytes?: number
  requestTimeoutMs?: number
  maxConnections?: number
  shutdownGraceMs?: number
  /** Allow a non-loopback bind without a shared secret. */
  allowUnauthenticated?: boolean
}

export type ServeJobsOptions = ServerOptions & {
  /** The host's kinds: `POST /jobs {kind: name, jobId, …}` calls `registry.start(jobId, body)`. */
  kinds?: Record<string, JobRegistry<any, any>>
  /** Also serve keel's `command` and `turn` kinds (default false: `command` runs programs). */
  defaultKinds?: boolean
  /** The default kinds' registry limits. */
  limits?: Partial<RegistryOptions> | null
  /** Where `PORT`, `HARNESS_BIND_HOST` and `HARNESS_SHARED_SECRET` are read (default `process.env`). */
  env?: Record<string, string | undefined>
}

export interface JobServer {
  readonly host: string
  readonly port: number
  /** `http://host:port` */
  readonly url: string
  /** Stop accepting, abort every running job, resolve when they settled. Idempotent. */
  close(): Promise<void>
  /** Settles when the server has stopped (rejects if it failed while serving). */
  readonly closed: Promise<void>
}

/**
 * Serve the host's JobRegistry instances over the executor-harness job API
 * (`GET /health`, `POST /jobs`, `GET`/`DELETE /jobs/{id}`, `/metrics`, `/openapi.json`),
 * with the shared secret in `x-harness-secret`. Rejects with `code` `KEEL_INVALID_ARGUMENT`
 * (TypeError), `KEEL_INVALID_OPTION` (RangeError) or the server's bind error.
 */
export function serveJobs(options: ServeJobsOptions): Promise<JobServer>
