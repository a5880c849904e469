import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface RedisServerOptions {
  /** Working directory for the AOF and dump files; created if missing. */
  readonly dir: string
  /** Defaults to a free port on 127.0.0.1. */
  readonly port?: number
  /** Append-only file on (the default) so a restart keeps the data. */
  readonly appendOnly?: boolean
  readonly executable?: string
  /** Appended after the defaults, e.g. the cluster-mode flags of redis-cluster-server.ts. */
  readonly extraArgs?: readonly string[]
}

export interface RedisServer {
  readonly url: string
  readonly port: number
  readonly dir: string
  readonly pid: number
  /** SHUTDOWN-like stop: SIGTERM, which makes Redis flush its AOF. */
  stop(): Promise<void>
  /** Hard crash: SIGKILL, nothing flushed beyond what the AOF fsync policy already wrote. */
  kill(): Promise<void>
  /** Starts a new server on the same port and directory. */
  restart(): Promise<RedisServer>
}

/**
 * Keystore buckets hold up to a few hundred members; listpack encoding keeps each
 * member at about its own size, where a hashtable costs ~60 B more per member.
 */
export const HASH_LISTPACK_ENTRIES = 1024

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('could not find a free port')
  return address.port
}

/** Starts a private redis-server from PATH, for tests and `sweep up`. */
export async function startRedisServer(options: RedisServerOptions): Promise<RedisServer> {
  const port = options.port ?? await freePort()
  const executable = options.executable ?? 'redis-server'
  mkdirSync(options.dir, { recursive: true })
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir,
    '--appendonly', options.appendOnly === false ? 'no' : 'yes', '--appendfsync', 'everysec',
    '--save', '', '--protected-mode', 'no', '--daemonize', 'no',
    '--hash-max-listpack-entries', String(HASH_LISTPACK_ENTRIES),
    ...options.extraArgs ?? []
  ]
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
  child.stderr?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const failedToSpawn = new Promise<Error>((resolve) => child.once('error', resolve))
  await waitReady(child, port, exited, failedToSpawn, () => output, executable)
  return handle(child, port, options, exited)
}

async function waitReady(
  child: ChildProcess, port: number, exited: Promise<number | null>, failedToSpawn: Promise<Error>,
  output: () => string, executable: string
): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const outcome = await Promise.race([
      failedToSpawn.then((error) => ({ error })),
      exited.then((code) => ({ code })),
      sleep(50).then(() => ({ tick: true }))
    ])
    if ('error' in outcome) {
      const missing = (outcome.error as NodeJS.ErrnoException).code === 'ENOENT'
      throw new Error(missing
        ? `${executable} is not on PATH: install Redis (apt-get install redis-server) or pass --redis URL`
        : `could not start ${executable}: ${outcome.error.message}`)
    }
    if ('code' in outcome) throw new Error(`${executable} on port ${port} exited with code ${outcome.code}: ${output().trim()}`)
    if (output().includes('Ready to accept connections')) return
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${executable} on port ${port} was not ready within 20 s: ${output().trim()}`)
    }
  }
}

function handle(child: ChildProcess, port: number, options: RedisServerOptions, exited: Promise<number | null>): RedisServer {
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir: options.dir,
    pid: child.pid ?? -1,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
    restart: async () => {
      await stopWith('SIGTERM')
      return startRedisServer({ ...options, port })
    }
  }
}
