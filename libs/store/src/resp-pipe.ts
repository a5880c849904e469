import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Redis } from 'ioredis'

interface PendingRequest {
  remaining: number
  readonly replies: number[]
  error?: string
  readonly resolve: (replies: number[]) => void
  readonly reject: (error: Error) => void
}

/**
 * A second, bare connection to the Redis an ioredis client talks to, for bulk writes: the
 * caller sends many commands already encoded in one buffer and gets their integer
 * replies back. ioredis spends ~15 µs of client CPU per command (a promise, argument
 * handling, a buffer per command), which made one native HSET per bucket dearer than a
 * Lua script doing them; this pipe makes it ~1 µs, and native HSETs cost Redis 40% less
 * than the same HSETs from Lua. Only replies that are integers, simple strings or errors
 * are understood: the commands sent here must be of that kind.
 */
export class RespPipe {
  private readonly redis: Redis
  private socket: Socket | undefined
  private connecting: Promise<Socket> | undefined
  private readonly pending: PendingRequest[] = []
  private leftover: Buffer | undefined
  private closed = false

  private constructor(redis: Redis) {
    this.redis = redis
    redis.once('end', () => this.close())
  }

  /** The pipe beside this client, opened on first use and closed when the client ends. */
  static of(redis: Redis): RespPipe {
    let pipe = pipes.get(redis)
    if (pipe === undefined) {
      pipe = new RespPipe(redis)
      pipes.set(redis, pipe)
    }
    return pipe
  }

  /**
   * Writes payload (replies commands, RESP-encoded) and resolves with their integer
   * replies in order; rejects after all replies arrived if any was an error, or at once
   * when the connection fails (then some of the commands may have run).
   */
  async send(payload: Buffer, replies: number): Promise<number[]> {
    const socket = await this.connection()
    return new Promise<number[]>((resolve, reject) => {
      this.pending.push({ remaining: replies, replies: [], resolve, reject })
      socket.ref()
      socket.write(payload)
    })
  }

  close(): void {
    this.closed = true
    this.fail(new Error('the Redis client this bulk connection belongs to was closed'))
  }

  private connection(): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('the Redis client this bulk connection belongs to was closed'))
    if (this.socket !== undefined) return Promise.resolve(this.socket)
    this.connecting ??= this.open().finally(() => { this.connecting = undefined })
    return this.connecting
  }

  private async open(): Promise<Socket> {
    const { host, port, path, tls, username, password, db } = this.redis.options
    const socket = await new Promise<Socket>((resolve, reject) => {
      const onConnect = () => { s.off('error', reject); resolve(s) }
      const s: Socket = path
        ? netConnect({ path }, onConnect)
        : tls
          ? tlsConnect({ host, port, ...tls }, onConnect)
          : netConnect({ host: host ?? '127.0.0.1', port: port ?? 6379 }, onConnect)
      s.once('error', reject)
    })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.receive(chunk))
    socket.on('error', (error) => this.fail(new Error(`bulk connection to Redis failed: ${error.message}`)))
    socket.on('close', () => this.fail(new Error('bulk connection to Redis closed')))
    this.socket = socket
    const handshake: Buffer[] = []
    if (password) handshake.push(encodeCommand(username ? ['AUTH', username, password] : ['AUTH', password]))
    if (db) handshake.push(encodeCommand(['SELECT', String(db)]))
    if (handshake.length === 0) handshake.push(encodeCommand(['PING']))
    try {
      await new Promise<number[]>((resolve, reject) => {
        this.pending.push({ remaining: handshake.length, replies: [], resolve, reject })
        socket.write(Buffer.concat(handshake))
      })
    } catch (error) {
      this.fail(error as Error)
      throw error
    }
    if (this.pending.length === 0) socket.unref()
    return socket
  }

  private receive(chunk: Buffer): void {
    const data = this.leftover === undefined ? chunk : Buffer.concat([this.leftover, chunk])
    this.leftover = undefined
    let start = 0
    for (let end = data.indexOf(10); end >= 0; end = data.indexOf(10, start)) {
      const request = this.pending[0]
      if (request === undefined) return this.fail(new Error('Redis sent a reply nobody asked for on the bulk connection'))
      const type = data[start]
      if (type === 0x3a /* : */) request.replies.push(parseInteger(data, start + 1, end - 1))
      else if (type === 0x2b /* + */) request.replies.push(0)
      else if (type === 0x2d /* - */) {
        request.error ??= data.toString('utf8', start + 1, end - 1)
        request.replies.push(0)
      } else return this.fail(new Error(`unexpected reply type '${String.fromCharCode(type)}' on the bulk connection`))
      start = end + 1
      if (--request.remaining === 0) {
        this.pending.shift()
        if (request.error !== undefined) request.reject(new Error(`Redis refused a bulk write: ${request.error}`))
        else request.resolve(request.replies)
        if (this.pending.length === 0) this.socket?.unref()
      }
    }
    if (start < data.length) this.leftover = data.subarray(start)
  }

  /** Drops the connection and fails everything waiting on it; the next send reconnects. */
  private fail(error: Error): void {
    const socket = this.socket
    this.socket = undefined
    this.leftover = undefined
    socket?.destroy()
    for (const request of this.pending.splice(0)) request.reject(error)
  }
}

const pipes = new WeakMap<Redis, RespPipe>()

function parseInteger(data: Buffer, start: number, end: number): number {
  let negative = false
  let at = start
  if (data[at] === 0x2d) {
    negative = true
    at++
  }
  let n = 0
  for (; at < end; at++) n = n * 10 + data[at] - 48
  return negative ? -n : n
}

/** One command in RESP, for the few that are not hand-packed. */
export function encodeCommand(args: readonly string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`)
}
