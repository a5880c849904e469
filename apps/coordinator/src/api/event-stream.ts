import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'

/** How often `/v1/events` sends a snapshot, unless the server is told otherwise. */
export const DEFAULT_EVENT_INTERVAL_MS = 2000
/** How long a browser waits before it reconnects a dropped stream. */
const RETRY_MS = 3000

interface Client {
  readonly res: ServerResponse
  /** Set while the socket's buffer is full: a slow reader skips snapshots instead of queueing them. */
  blocked: boolean
}

/**
 * Server-sent events: one snapshot built per tick, whatever the number of clients, and sent to
 * each. The timer runs only while someone listens, so an unwatched coordinator reads nothing.
 */
export class SnapshotStream {
  readonly #clients = new Set<Client>()
  readonly #build: () => Promise<unknown>
  readonly #everyMs: number
  readonly #log: Logger
  #timer: NodeJS.Timeout | undefined
  #closed = false
  /** A tick still building its snapshot when the next is due: the next is skipped, not stacked. */
  #building = false

  constructor(build: () => Promise<unknown>, everyMs: number, log: Logger) {
    this.#build = build
    this.#everyMs = everyMs
    this.#log = log
  }

  /** Opens a stream on this response and sends the first snapshot at once. */
  async add(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // proxies that buffer (nginx) would hold the events back
      'x-accel-buffering': 'no'
    })
    res.write(`retry: ${RETRY_MS}\n\n`)
    // a request that raced the server's close: the browser comes back after the retry delay
    if (this.#closed) {
      res.end()
      return
    }
    const client: Client = { res, blocked: false }
    this.#clients.add(client)
    res.on('drain', () => { client.blocked = false })
    req.socket.setNoDelay(true)
    res.once('close', () => {
      this.#clients.delete(client)
      if (this.#clients.size === 0) this.#stopTimer()
    })
    this.#timer ??= setInterval(() => void this.#tick(), this.#everyMs)
    const first = await this.#snapshot()
    if (first !== undefined && this.#clients.has(client)) this.#send(client, first)
  }

  /**
   * Ends every stream, so the server's close does not wait out its drain grace on streams that
   * never end by themselves. Browsers reconnect, to this coordinator's successor or to another.
   */
  close(): void {
    this.#closed = true
    this.#stopTimer()
    for (const client of this.#clients) client.res.end()
    this.#clients.clear()
  }

  get clients(): number {
    return this.#clients.size
  }

  async #tick(): Promise<void> {
    if (this.#building) return
    this.#building = true
    const text = await this.#snapshot().finally(() => { this.#building = false })
    if (text === undefined) return
    for (const client of this.#clients) this.#send(client, text)
  }

  async #snapshot(): Promise<string | undefined> {
    try {
      return `event: snapshot\ndata: ${JSON.stringify(await this.#build())}\n\n`
    } catch (error) {
      // Redis down for a moment: the page keeps its last snapshot and marks it stale
      this.#log.warn({ err: error }, 'building a dashboard snapshot failed')
      return undefined
    }
  }

  #send(client: Client, text: string): void {
    if (client.blocked || client.res.writableEnded) return
    client.blocked = !client.res.write(text)
  }

  #stopTimer(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
