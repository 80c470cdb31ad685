// Types of node/tool-silence.js (the standalone tool-silence watchdog, the reference's
// `tool-silence.ts` API).
import type { ToolProgressWindow } from './index'

export interface ToolSilenceDeps {
  /** The window length in ms. `<= 0` disables the watchdog (every window is inert). */
  windowMs: number
  /** When the run last produced any output (`Date.now()` ms), or undefined if never. Read at expiry. */
  lastActivityAt: () => number | undefined
  /** Called when a window expires with the run demonstrably still talking. */
  onExpired: () => void
}

/**
 * Hands out {@link ToolProgressWindow}s and calls `onExpired` for one that goes a full
 * window without a completed tool call while the run keeps producing output. One window
 * is open at a time: opening another supersedes it, and a superseded handle's calls are
 * ignored. A window that elapsed in silence is deferred (re-armed), not fired.
 */
export declare class ToolSilenceWatchdog {
  constructor(deps: ToolSilenceDeps)
  /** Open a window for one agent stream. Returns an inert handle when disabled. */
  open(): ToolProgressWindow
  /** Disarm for good (the job settled). Safe to call with no window open. */
  stop(): void
}
