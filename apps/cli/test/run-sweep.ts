/** The real `sweep` bin in a child process, as a user runs it. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const SWEEP_BIN = fileURLToPath(new URL('../bin/sweep.js', import.meta.url))

export interface SweepRun { status: number | null; stdout: string; stderr: string }

/**
 * Async, so a coordinator in the test's process keeps serving while the child runs.
 * The caller's SWEEP_API_URL and SWEEP_API_TOKEN are dropped: each test names its API.
 */
export async function runSweep(args: readonly string[], stdin = ''): Promise<SweepRun> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env }
    delete env.SWEEP_API_URL
    delete env.SWEEP_API_TOKEN
    const child = spawn(process.execPath, [SWEEP_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', reject)
    child.once('close', (status) => resolve({ status, stdout, stderr }))
    child.stdin.end(stdin)
  })
}
