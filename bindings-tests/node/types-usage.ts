// Compiled (never run) by bindings-tests/node/check-generated.sh with `tsc --noEmit
// --strict`: the published declarations (keel.d.ts → index.d.ts → types.d.ts) must
// compile, and the views must have the fields a host reads. A field renamed in core
// without its type following breaks this file.
import {
  JobRegistry,
  runCommand,
  type CommandResult,
  type FailureCause,
  type JobView,
  type ToolSpan,
  createManagedSpawn,
  serveJobs,
  type JobServer,
  type ManagedSpawn,
} from '../../node/keel'
import type { ManagedRecord, ProbeResult, SweepStats, Validation } from '../../node/types'

async function usage(): Promise<void> {
  const reg = new JobRegistry<{ repo: string }, { summary: string }>(
    { inactivityMs: 1000 },
    async (job, opts) => {
      opts.onActivity?.()
      opts.onProgress?.({ completed: 1, total: 2 })
      opts.onSpan?.({ tool: 'Bash', seq: 0, startedAt: 1, endedAt: 2, ok: true, args: 'ls' })
      return { summary: job.repo }
    },
  )
  const view: JobView<{ summary: string }> = reg.start('j1', { repo: 'r' })
  const summary: string | undefined = view.result?.summary
  const cause: FailureCause | undefined = view.failureCause
  const spans: ToolSpan[] = view.spans ?? []
  const metricPhase: string | undefined = view.callMetrics?.[0]?.phase
  const dropped: number = (view.dropped?.spans ?? 0) + (view.dropped?.followUps ?? 0)
  const cold: string | undefined = view.coldStart?.message
  void [summary, cause, spans, metricPhase, dropped, cold]

  const r: CommandResult = await runCommand({ cmd: 'true', args: [] })
  const cleared: boolean = r.treeCleared && r.groupCleared
  const survivors: number[] = r.survivors.map((s) => s.pid)
  const code: number | null = r.exit.kind === 'exited' ? r.exit.code : null
  void [cleared, survivors, code, r.killReason, r.error, r.tail, r.durationMs]
}
void usage

// Managed services: the drop-in module and its views.
async function servicesUsage(): Promise<void> {
  const ms: ManagedSpawn = createManagedSpawn({ stateDir: '/tmp/x', options: { killGraceMs: 500 } })
  const v: Validation = ms.validateManagedSpawnRecord({ specs: [] }, { requireGitWorkdir: false })
  const reason: string | undefined = v.reason ?? undefined
  const recs: ManagedRecord[] = ms.listManagedSpecs({ project: 'p' })
  const health: string | undefined = recs[0]?.keel?.health
  const { etag, services } = ms.listManagedServices()
  const lastError: string | null = services[0]?.last_error ?? null
  const stats: SweepStats = await ms.sweepManagedSpawn()
  const probe: ProbeResult = await ms.runHealthcheck({ healthcheck: { type: 'http', url: 'http://127.0.0.1:1/' } })
  const rt = await ms.restartManagedSpec('web')
  const pid: number | null = rt.pid
  void [reason, health, etag, lastError, stats.killedPids, probe.lastCheckAt, pid]
}
void servicesUsage

// The job server with a host kind.
async function serveUsage(): Promise<void> {
  const reg = new JobRegistry<{ n: number }, { doubled: number }>({}, async (job) => ({ doubled: job.n * 2 }))
  const s: JobServer = await serveJobs({ port: 0, sharedSecret: 'x', kinds: { math: reg }, maxBodyBytes: 1024 })
  const url: string = s.url
  await s.close()
  void url
}
void serveUsage
