import { pbStream } from '@libp2p/utils'
import { MessageType } from './records.ts'
import type { Message, RecordEncoder } from './records.ts'
import type { Stream } from '@libp2p/interface'
import type { ProtobufMessageStream } from '@libp2p/utils'

/** Counters the stream bumps as it writes; shared by every stream of a sender. */
export interface WriteCounters {
  messagesWritten: number
  pings: number
}

export interface CheckpointOptions {
  /** ADD_PROVIDER messages written between two PING checkpoints. */
  readonly chunk: number
  /** Checkpoints in flight at once, so the server never idles while we wait for an echo. */
  readonly window: number
}

/**
 * One long-lived outbound kad stream to one server, carrying many ADD_PROVIDER
 * messages. Servers don't answer ADD_PROVIDER, and a js server that fails one
 * message aborts the whole stream, dropping whatever it had not handled yet. So
 * every chunk is followed by a PING: servers handle a stream's messages in order,
 * so the echo confirms the chunk, and only unconfirmed records are ever resent.
 */
export class ProviderStream {
  readonly stream: Stream
  private readonly messages: ProtobufMessageStream<Message, Stream>
  private readonly encoder: RecordEncoder
  private readonly counters: WriteCounters
  private lastUsed = Date.now()

  constructor(stream: Stream, encoder: RecordEncoder, counters: WriteCounters) {
    this.stream = stream
    this.encoder = encoder
    this.counters = counters
    // one wrapper for the stream's whole life: it buffers what arrives between reads
    this.messages = pbStream(stream).pb(encoder.codec)
  }

  /** False once either side closed, reset or aborted it; such a stream is replaced, not retried. */
  get usable(): boolean {
    const s = this.stream
    return s.status === 'open' && s.writeStatus === 'writable' && s.readStatus === 'readable' &&
      s.remoteReadStatus === 'readable' && s.remoteWriteStatus === 'writable'
  }

  get idleMs(): number {
    return Date.now() - this.lastUsed
  }

  /**
   * Writes the records for multihashes[from..] and resolves once all are confirmed.
   * onConfirmed(end) reports progress: everything before `end` reached the server.
   * Throws on any stream failure; the caller discards the stream.
   */
  async deliver(
    multihashes: ReadonlyArray<Uint8Array>, from: number, options: CheckpointOptions,
    onConfirmed: (end: number) => void, signal: AbortSignal
  ): Promise<void> {
    const inFlight: number[] = []
    let next = from
    while (next < multihashes.length || inFlight.length > 0) {
      while (next < multihashes.length && inFlight.length < options.window) {
        const end = Math.min(next + options.chunk, multihashes.length)
        const batch: Message[] = []
        for (let i = next; i < end; i++) batch.push(this.encoder.addProvider(multihashes[i]))
        batch.push(this.encoder.ping())
        // one writeV per chunk: one buffer and one muxer frame batch instead of one per message
        await this.messages.writeV(batch, { signal })
        this.lastUsed = Date.now()
        this.counters.messagesWritten += end - next
        this.counters.pings++
        inFlight.push(end)
        next = end
      }
      const reply = await this.messages.read({ signal })
      this.lastUsed = Date.now()
      if (reply.type !== MessageType.PING) throw new Error(`server answered a PING checkpoint with ${reply.type}`)
      onConfirmed(inFlight.shift() as number)
    }
  }

  /** Ends our side politely so the server finishes the stream instead of timing it out. */
  close(): void {
    if (this.stream.status !== 'open') return
    this.stream.close({ signal: AbortSignal.timeout(2_000) }).catch((err: unknown) => {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }

  abort(reason: string): void {
    this.stream.abort(new Error(reason))
  }
}
