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
  /** Whether it has the last snapshot sent, so the next can go as an update against it. */
  synced: boolean
}

/** What goes out each tick: the whole snapshot, and what changed since the previous one. */
export interface SnapshotSource<T> {
  build(): Promise<T>
  /** The `update` event's data: what a client holding previous needs to hold next. */
  update(previous: T, next: T): unknown
}

/**
 * Server-sent events: one snapshot built per tick, whatever the number of clients. A client
 * that got the previous tick's gets an `update` event with what changed (at Amino's ~8k regions,
 * a whole snapshot is ~880 KB); a new or lagging one gets the whole `snapshot`. The timer runs
 * only while someone listens, so an unwatched coordinator reads nothing.
 */
export class SnapshotStream<T> {
  readonly #clients = new Set<Client>()
  readonly #source: SnapshotSource<T>
  readonly #everyMs: number
  readonly #log: Logger
  #timer: NodeJS.Timeout | undefined
  #closed = false
  /** A tick still building its snapshot when the next is due: the next is skipped, not stacked. */
  #building = false
  /** The last snapshot sent, and its event, which a client that joins gets first. */
  #last: { snapshot: T; event: string } | undefined

  constructor(source: SnapshotSource<T>, everyMs: number, log: Logger) {
    this.#source = source
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
    const client: Client = { res, blocked: false, synced: false }
    this.#clients.add(client)
    res.on('drain', () => { client.blocked = false })
    req.socket.setNoDelay(true)
    res.once('close', () => {
      this.#clients.delete(client)
      if (this.#clients.size === 0) this.#stopTimer()
    })
    this.#timer ??= setInterval(() => void this.#tick(), this.#everyMs)
    // the first stream since the timer started has no snapshot to join yet
    if (this.#last === undefined) {
      const snapshot = await this.#snapshot()
      if (snapshot !== undefined) this.#last ??= { snapshot, event: event('snapshot', snapshot) }
    }
    if (this.#last !== undefined && this.#clients.has(client)) client.synced = this.#send(client, this.#last.event)
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
    const snapshot = await this.#snapshot().finally(() => { this.#building = false })
    // nobody left while it was built: keep nothing that the next first client would get stale
    if (snapshot === undefined || this.#timer === undefined) return
    // read after the build: a client that joined meanwhile holds the snapshot #last has now
    const previous = this.#last
    const whole = event('snapshot', snapshot)
    const update = previous === undefined ? undefined : event('update', this.#source.update(previous.snapshot, snapshot))
    this.#last = { snapshot, event: whole }
    for (const client of this.#clients) client.synced = this.#send(client, client.synced && update !== undefined ? update : whole)
  }

  async #snapshot(): Promise<T | undefined> {
    try {
      return await this.#source.build()
    } catch (error) {
      // Redis down for a moment: the page keeps its last snapshot and marks it stale
      this.#log.warn({ err: error }, 'building a dashboard snapshot failed')
      return undefined
    }
  }

  /** Whether the text went out (a blocked or ended client skips it, and is out of sync). */
  #send(client: Client, text: string): boolean {
    if (client.blocked || client.res.writableEnded) return false
    client.blocked = !client.res.write(text)
    return true
  }

  #stopTimer(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    // a snapshot from before the pause would be stale for the next client
    this.#last = undefined
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
}
