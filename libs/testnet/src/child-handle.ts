/**
 * Parent side of one child process that runs testnet servers, and the
 * request/response promises over its channel. Two kinds of child speak the
 * same requests (protocol.ts):
 * - js: child.ts forked with Node's 'advanced' IPC serialization, so
 *   Uint8Arrays cross as they are;
 * - go: the gonet binary's `serve` mode, with one JSON object per line on
 *   stdin and stdout, bytes as base64 (Go's encoding of []byte).
 * Both leave at once when the parent goes (IPC disconnect, stdin EOF).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Envelope, Impl, Op, Reply, RequestOf, Responses } from './protocol.ts'

const JS_ENTRY = fileURLToPath(new URL('./child.ts', import.meta.url))

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }

export class ChildHandle {
  readonly index: number
  readonly impl: Impl
  private readonly proc: ChildProcess
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private exited = false

  /** `goBinary` is the built gonet program; required when impl is 'go'. */
  constructor(index: number, impl: Impl = 'js', goBinary?: string) {
    this.index = index
    this.impl = impl
    this.proc = impl === 'js' ? forkJs() : spawnGo(goBinary)
    if (impl === 'js') {
      this.proc.on('message', (reply: Reply) => this.settle(reply))
    } else {
      // a line that is not a reply is a bug in the child; say so rather than hang the request
      createInterface({ input: this.proc.stdout! }).on('line', (line) => {
        try {
          this.settle(JSON.parse(line) as Reply)
        } catch {
          process.stderr.write(`testnet go child ${index}: unexpected output: ${line.slice(0, 200)}\n`)
        }
      })
      // EPIPE after the child died arrives here; the exit handler already failed the requests
      this.proc.stdin!.on('error', () => {})
    }
    this.proc.on('exit', (code, signal) => {
      this.exited = true
      this.fail(new Error(`testnet ${impl} child ${index} exited (code ${code}, signal ${signal})`))
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
      const sent = (err: Error | null | undefined): void => {
        if (err == null) return
        this.pending.delete(id)
        reject(err)
      }
      if (this.impl === 'js') this.proc.send(envelope, sent)
      else this.proc.stdin!.write(JSON.stringify(envelope, base64Bytes) + '\n', sent)
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
    else p.reject(new Error(`testnet ${this.impl} child ${this.index}: ${reply.error}`))
  }
}

function forkJs(): ChildProcess {
  // process.execPath is the Node that runs us (Node 24 from node_modules/.bin under
  // npx, also inside vitest's forks), so the child strips TS types the same way.
  // execArgv is cleared so test-runner loader flags don't leak into the child.
  return fork(JS_ENTRY, [], {
    execPath: process.execPath,
    execArgv: [],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
}

function spawnGo(binary: string | undefined): ChildProcess {
  if (binary == null) throw new Error('a go testnet child needs the gonet binary (see go-binary.ts)')
  return spawn(binary, ['serve'], { stdio: ['pipe', 'pipe', 'inherit'] })
}

/** JSON.stringify replacer: reads the holder's raw value, since a Buffer's toJSON runs before the replacer sees it. */
function base64Bytes(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key]
  return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') : value
}
