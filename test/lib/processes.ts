import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const SWEEP_BIN = fileURLToPath(new URL('../../apps/cli/bin/sweep.js', import.meta.url))

export interface LogLine {
  readonly msg?: string
  readonly [field: string]: unknown
}

/** A real `sweep` child process whose pino JSON log the test can wait on. */
export class SweepProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly logs: LogLine[] = []
  readonly exited: Promise<number | null>
  private readonly waiters = new Set<() => void>()

  constructor(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
    this.name = name
    this.child = spawn(process.execPath, [SWEEP_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const collect = (line: string): void => {
      try {
        this.logs.push(JSON.parse(line) as LogLine)
      } catch {
        this.logs.push({ msg: line, raw: true })
      }
      for (const wake of this.waiters) wake()
    }
    createInterface({ input: this.child.stdout! }).on('line', collect)
    createInterface({ input: this.child.stderr! }).on('line', collect)
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      resolve(code)
      for (const wake of this.waiters) wake()
    }))
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The first log line matching, waiting up to timeoutMs; the error carries the log tail. */
  async waitForLog(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.logs.find(match)
      if (found) return found
      if (!this.running) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before the awaited log line:\n${this.tail()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.name}: awaited log line did not come within ${timeoutMs} ms:\n${this.tail()}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 1000))
        function done (): void { clearTimeout(timer); resolve() }
        this.waiters.add(done)
      }).finally(() => this.waiters.clear())
    }
  }

  tail(lines = 15): string {
    return this.logs.slice(-lines).map((l) => JSON.stringify(l)).join('\n')
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal)
    return this.exited
  }
}

/** Polls until check returns a value other than undefined, or throws with the description. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
