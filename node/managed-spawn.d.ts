// Types of node/managed-spawn.js: drop-ins for minions' engine/processes/managed-spawn.js.
// The option and view shapes are generated from keel-core's serde types into types.d.ts.
import type {
  ManagedRecord,
  ProbeResult,
  ProjectRemoval,
  ReconcileReport,
  Removal,
  ServiceView,
  ServicesOptions,
  SweepStats,
  UpOutcome,
  Validation,
} from './types'

/** `createManagedSpawn(options)`: where the state, the sidecars and the config are. */
export interface ManagedSpawnFactoryOptions {
  /** `managed-processes.json` and `managed-logs/` (default `<minions home>/engine`). */
  stateDir?: string
  /** `<agentId>/managed-spawn.json` sidecars (default `<minions home>/agents`). */
  agentsDir?: string
  /** Read for `projects` when a validator call passes none (default `<minions home>/config.json`). */
  configPath?: string
  /** Core's limits, allowlists and thresholds. */
  options?: Partial<ServicesOptions> | null
}

/** minions' validator `opts` (fields keel does not use are ignored). */
export interface ManagedValidateOpts {
  requireGitWorkdir?: boolean
  allowedCwdRoot?: string
  /** minions projects: `managedSpawnExtraDenyPatterns` applies to specs whose `cwd` is under `localPath`. */
  projects?: Array<{ localPath?: string; managedSpawnExtraDenyPatterns?: string[]; [k: string]: unknown }>
  /** One project whose patterns apply to every spec. */
  project?: { managedSpawnExtraDenyPatterns?: string[]; [k: string]: unknown }
  /** keel: more env-key deny regexes. */
  extraDenyPatterns?: string[]
  [k: string]: unknown
}

/** minions' spawn `ctx`. */
export interface ManagedSpawnContext {
  owner_agent?: string
  owner_wi?: string
  owner_project?: string
  owner_work_type?: string
  dispatch_root?: string
  checkout_mode?: string
}

/** What spawning or restarting answers: minions' runtime fields plus the stored record. */
export interface ManagedRuntime {
  pid: number | null
  started_at: number | null
  log_path: string
  record: ManagedRecord
}

export type ReadManagedSpawnFileResult =
  | { agentId: unknown; filePath: string; valid: true; value: unknown; parsed: unknown }
  | { agentId: unknown; filePath: string; valid: false; reason: string; parsed: unknown }

export interface ManagedSpawnAcceptance {
  exists: boolean
  accepted: boolean
  isWorkdirRejection: boolean
  reason: string | null
  record: unknown
  filePath: string
  parsedRaw?: unknown
}

export interface FirstHealthResult extends ProbeResult {
  /** When `opts.exit` settled first: the last lines of the service's log. */
  log_tail?: string
  exit?: unknown
}

/** Managed services over one state directory, with minions' function names. */
export interface ManagedSpawn {
  readonly stateDir: string
  readonly agentsDir: string
  readonly statePath: string
  readonly logsDir: string
  /** `{ok, reason|value, maxLength}`. */
  validateManagedSpecName(name: unknown): Validation
  /** `{ok:false, reason:'spec[0]: name-not-kebab-case (…)'}` or `{ok:true, value}` — minions' reason strings. */
  validateManagedSpawnRecord(parsed: unknown, opts?: ManagedValidateOpts): Validation
  /** `null` when the sidecar is absent. */
  readManagedSpawnFile(agentId: string, opts?: ManagedValidateOpts): ReadManagedSpawnFileResult | null
  evaluateManagedSpawnAcceptance(
    agentId: string,
    opts?: ManagedValidateOpts & { required?: boolean; expectedAgentId?: string; expectedWorkItemId?: string },
  ): ManagedSpawnAcceptance
  /** Spawn one validated spec detached in its own process tree and record it (minions' spawn + record). */
  spawnManagedSpec(spec: object, ctx?: ManagedSpawnContext): Promise<ManagedRuntime>
  /** keel: validate a sidecar record, spawn every spec, wait for each one's first health (failures are killed and removed). */
  upManagedSpecs(record: unknown, opts?: ManagedValidateOpts, ctx?: ManagedSpawnContext): Promise<UpOutcome[]>
  /** The stored records (optionally one project's). */
  listManagedSpecs(opts?: { project?: string }): ManagedRecord[]
  /** keel: the list view with health and the ETag (`GET /managed-processes`). */
  listManagedServices(opts?: { project?: string }): { etag: string; services: ServiceView[] }
  getManagedSpecByName(name: string): ManagedRecord | null
  /** Kill the old tree (only if it is provably this service), respawn the saved spec. Rejects `KEEL_SERVICE_NOT_FOUND` (statusCode 404). */
  restartManagedSpec(name: string, opts?: object): Promise<ManagedRuntime>
  removeManagedSpec(name: string): Promise<Removal>
  /** Drop dead records (PID-reuse safe), kill TTL-expired trees, rotate logs. */
  sweepManagedSpawn(opts?: object): Promise<SweepStats>
  /** The sweep plus one probe per survivor (bounded by `bootReconcileMaxMs`). */
  bootReconcileManagedSpawn(opts?: object): Promise<ReconcileReport>
  removeManagedSpecsForProject(projectName: string): Promise<ProjectRemoval | { killed: 0; unlinked: 0; scanned: 0 }>
  /** 16 hex chars; changes when any record changes. */
  computeManagedSpecsEtag(opts?: { project?: string }): string
  /** The "Live managed processes" prompt block (`''` when none), capped at `promptContextMaxBytes`. */
  buildLiveManagedProcessesBlock(opts: { project: string; dashboardPort?: number }): string
  /** One probe of `spec.healthcheck`; never rejects. */
  runHealthcheck(spec: { healthcheck?: unknown }): Promise<ProbeResult>
  /** Probe at once, then every `interval_s`, until healthy or `timeout_s`; records the outcome. Settles early when `opts.exit` does. */
  waitForFirstHealth(spec: { name: string; healthcheck?: unknown }, opts?: { exit?: PromiseLike<unknown> }): Promise<FirstHealthResult>
}

/** Managed services over `options.stateDir` (see `ManagedSpawnFactoryOptions`). */
export function createManagedSpawn(options?: ManagedSpawnFactoryOptions): ManagedSpawn

export const MANAGED_SPAWN_FILENAME: 'managed-spawn.json'
export const MANAGED_LOGS_DIR: 'managed-logs'
export const INVALID_WORKDIR_REASON_PREFIX: 'invalid-workdir: '
export const HEALTHCHECK_TYPES: ReadonlyArray<'http' | 'command'>

// The module-level drop-ins: the default directories (MINIONS_TEST_DIR, MINIONS_HOME or ~/.minions).
export const validateManagedSpecName: ManagedSpawn['validateManagedSpecName']
export const validateManagedSpawnRecord: ManagedSpawn['validateManagedSpawnRecord']
export const readManagedSpawnFile: ManagedSpawn['readManagedSpawnFile']
export const evaluateManagedSpawnAcceptance: ManagedSpawn['evaluateManagedSpawnAcceptance']
export const spawnManagedSpec: ManagedSpawn['spawnManagedSpec']
export const upManagedSpecs: ManagedSpawn['upManagedSpecs']
export const listManagedSpecs: ManagedSpawn['listManagedSpecs']
export const listManagedServices: ManagedSpawn['listManagedServices']
export const getManagedSpecByName: ManagedSpawn['getManagedSpecByName']
export const restartManagedSpec: ManagedSpawn['restartManagedSpec']
export const removeManagedSpec: ManagedSpawn['removeManagedSpec']
export const sweepManagedSpawn: ManagedSpawn['sweepManagedSpawn']
export const bootReconcileManagedSpawn: ManagedSpawn['bootReconcileManagedSpawn']
export const removeManagedSpecsForProject: ManagedSpawn['removeManagedSpecsForProject']
export const computeManagedSpecsEtag: ManagedSpawn['computeManagedSpecsEtag']
export const buildLiveManagedProcessesBlock: ManagedSpawn['buildLiveManagedProcessesBlock']
export const runHealthcheck: ManagedSpawn['runHealthcheck']
export const waitForFirstHealth: ManagedSpawn['waitForFirstHealth']
