/**
 * The coordinator and worker child processes of `sweep up`: the real `sweep` bin run by
 * this Node, logs to files, orderly stop (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** apps/cli/bin/sweep.js, found from this module so it works from any working directory. */
export const SWEEP_BIN = fileURLToPath(new URL('../../bin/sweep.js', import.meta.url))

export interface SweepProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly logFile: string
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>
  running(): boolean
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string
  /** Where its /metrics is served, once its log has said so (each picks a free port). */
  metricsUrl(): string | undefined
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs: number): Promise<void>
}

/** Runs `node sweep.js <args>` with stdout and stderr (pino JSON) into <logDir>/<name>.log. */
export function spawnSweep(name: string, args: readonly string[], logDir: string, env: NodeJS.ProcessEnv = process.env): SweepProcess {
  const logFile = join(logDir, `${name}.log`)
  const fd = openSync(logFile, 'w')
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [SWEEP_BIN, ...args], { stdio: ['ignore', fd, fd], env })
  } finally {
    // the child has its own copy of the descriptor
    closeSync(fd)
  }
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
    child.once('error', (error) => resolve(`spawn failed: ${error.message}`))
  })
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined
  return {
    name,
    child,
    logFile,
    exited,
    running,
    tail: (lines = 15) => tailOf(logFile, lines),
    metricsUrl: () => metricsUrlOf(logFile),
    stop: async (graceMs) => {
      if (!running()) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => { if (running()) child.kill('SIGKILL') }, graceMs)
      await exited
      clearTimeout(timer)
    }
  }
}

/** The last lines of a log file, pino JSON reduced to "level msg" where it parses. */
export function tailOf(file: string, lines: number): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8').slice(-16_384)
  } catch {
    return '(no log)'
  }
  return text.split('\n').filter((l) => l.trim() !== '').slice(-lines).map(readable).join('\n')
}

/** The `metrics` URL the process logged when it started ('coordinator started', 'taking jobs'). */
function metricsUrlOf(file: string): string | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"metrics"')) continue
    try {
      const { metrics } = JSON.parse(line) as { metrics?: unknown }
      if (typeof metrics === 'string') return `${metrics.replace(/\/+$/, '')}/metrics`
    } catch {
      // not a JSON line
    }
  }
  return undefined
}

const LEVELS: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

function readable(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } }
    if (typeof entry.msg !== 'string') return line
    const level = LEVELS[entry.level ?? 30] ?? String(entry.level)
    return `${level}: ${entry.msg}${entry.err?.message === undefined ? '' : `: ${entry.err.message}`}`
  } catch {
    return line
  }
}

/** "coordinator exited with code 1; its last log lines (file):\n  ..." */
export function describeExit(process: SweepProcess, outcome: number | string): string {
  return `${process.name} exited (${typeof outcome === 'number' ? `code ${outcome}` : outcome}); the end of ${process.logFile}:\n${indent(process.tail())}`
}

export function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n')
}
