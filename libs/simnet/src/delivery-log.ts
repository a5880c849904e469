import { keyToHex, type KadKey } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'

/** Chooses which kad keys get their recipients recorded; null records none. */
export type KeySampler = ((key: KadKey) => boolean) | null

/**
 * What the whole network received: a count per server for everything, and the
 * recipient list for sampled keys only. Sampling is what lets a 10M-key run be
 * checked for exactness and duplicates without storing 200M (key, server) pairs.
 */
export class DeliveryLog {
  /** ADD_PROVIDER records received, per server index. */
  readonly receivedPerServer: Uint32Array
  private received = 0
  private sampler: KeySampler
  private readonly recipients = new Map<string, number[]>()

  constructor(servers: number, sampler: KeySampler = () => true) {
    this.receivedPerServer = new Uint32Array(servers)
    this.sampler = sampler
  }

  /** Records received across all servers (duplicates count each time). */
  get totalReceived(): number {
    return this.received
  }

  /** Sampled keys that reached at least one server. */
  get sampledKeyCount(): number {
    return this.recipients.size
  }

  /** Changes which keys are sampled from now on; what was recorded stays. */
  recordKeysWhere(sampler: KeySampler): void {
    this.sampler = sampler
  }

  record(server: number, keys: readonly ProvideKey[]): void {
    this.receivedPerServer[server] += keys.length
    this.received += keys.length
    const sampler = this.sampler
    if (sampler === null) return
    for (const { key } of keys) {
      if (!sampler(key)) continue
      const hex = keyToHex(key)
      const list = this.recipients.get(hex)
      if (list) list.push(server)
      else this.recipients.set(hex, [server])
    }
  }

  /**
   * Server indices that received a sampled key, in arrival order, one entry per
   * delivery: a server listed twice got the record twice. Empty when the key was
   * never delivered or not sampled.
   */
  recipientsOf(key: KadKey): readonly number[] {
    return this.recipients.get(keyToHex(key)) ?? []
  }

  /** Every sampled key delivered so far (hex kad key) with its recipients. */
  sampledDeliveries(): IterableIterator<[string, readonly number[]]> {
    return this.recipients.entries()
  }

  clear(): void {
    this.receivedPerServer.fill(0)
    this.received = 0
    this.recipients.clear()
  }
}
