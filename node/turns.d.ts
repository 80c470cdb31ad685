// Types of node/turns.js (the JavaScript half of keel's turn runner).
// The option and view shapes are generated from keel-core's serde types into types.d.ts.
import type { TurnEvent, TurnOptions, TurnResult, TurnSession } from './types'

/** `runTurn(options)`: `TurnOptions` plus the event listener and the abort signal. */
export interface RunTurnOptions extends TurnOptions {
  /** Every event of the turn (redacted), in order, before the promise settles. */
  onEvent?: (event: TurnEvent) => void
  /** Aborting it terminates the CLI's whole process tree; the turn ends `zombie`. */
  signal?: AbortSignal
  /** The reference's name for `signal`. */
  abortSignal?: AbortSignal
}

/**
 * Run one headless agent-CLI turn to its end. Bad options throw synchronously; a turn
 * that ran resolves (also a failed, stalled or aborted one: see `finalState`); it
 * rejects with a coded Error only when no turn could run.
 */
export declare function runTurn(options: RunTurnOptions): Promise<TurnResult>

/** An agent's durable session from `<stateDir>/turns.db` (or `dbPath`), or `null`. */
export declare function turnSession(stateDir: string, agentName: string, dbPath?: string): TurnSession | null
