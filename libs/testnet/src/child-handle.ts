/**
 * Parent side of one child process: forks child.ts and turns the IPC
 * channel into request/response promises.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Envelope, Op, Reply, RequestOf, Responses } from './protocol.ts'

const ENTRY = fileURLToPath(new URL('./child.ts', import.meta.url))

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }

export class ChildHandle {
  readonly index: number
  private readonly proc: ChildProcess
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private exited = false

  constructor(index: number) {
    this.index = index
    // process.execPath is the Node that runs us (Node 24 from node_modules/.bin under
    // npx, also inside vitest's forks), so the child strips TS types the same way.
    // execArgv is cleared so test-runner loader flags don't leak into the child.
    this.proc = fork(ENTRY, [], {
      execPath: process.execPath,
      execArgv: [],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.proc.on('message', (reply: Reply) => this.settle(reply))
    this.proc.on('exit', (code, signal) => {
      this.exited = true
      this.fail(new Error(`testnet child ${index} exited (code ${code}, signal ${signal})`))
    })
    // spawn failures and dead IPC channels arrive here; unhandled, they would crash the parent
    this.proc.on('error', (err) => this.fail(err))
  }

  get pid(): number | undefined {
    return this.proc.pid
  }

  get alive(): boolean {
    return !this.exited
  }

  request<O extends Op>(req: RequestOf<O>): Promise<Responses[O]> {
    if (this.exited) return Promise.reject(new Error(`testnet child ${this.index} has exited`))
    const id = this.nextId++
    return new Promise<Responses[O]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      const envelope: Envelope = { id, req }
      this.proc.send(envelope, (err) => {
        if (err != null) {
          this.pending.delete(id)
          reject(err)
        }
      })
    })
  }

  /** Asks the child to stop its nodes and exit; kills it if that takes too long. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()))
    const timer = setTimeout(() => this.kill(), timeoutMs)
    this.request({ op: 'shutdown' }).catch(() => this.kill())
    await gone
    clearTimeout(timer)
  }

  /** Synchronous, for process 'exit' handlers. */
  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL')
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }

  private settle(reply: Reply): void {
    const p = this.pending.get(reply.id)
    if (p == null) return
    this.pending.delete(reply.id)
    if (reply.ok) p.resolve(reply.result)
    else p.reject(new Error(`testnet child ${this.index}: ${reply.error}`))
  }
}
