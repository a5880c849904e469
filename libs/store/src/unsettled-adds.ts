import { randomBytes } from 'node:crypto'
import type { KeystoreContext } from './keystore-generations.ts'
import { runScript } from './scripts.ts'

/** How long a writer counts as alive after its last sign of life (a write or a refresh). */
export const DEFAULT_WRITER_TTL_MS = 5000

/**
 * The unsettled-adds journal of one keystore client. A native add (addCountNative) stores
 * its keys with plain HSETs and only then, in a second step, counts them and marks their
 * buckets dirty; a process killed between the two would leave keys that are stored but
 * neither counted nor marked, and since a retry finds them stored it would count and
 * mark nothing either (a key then waited for its slot, up to 22 h). So before its HSETs,
 * in the same request, an add writes an entry `<writer>:<seq>` → the prefix width (two
 * digits) and the prefixes of every bucket it touches, and the second step deletes it. An
 * entry whose writer's liveness key (set with each add, refreshed while adds are under way)
 * has expired belongs to an add that died: repairUnsettledAdds marks its buckets and
 * recounts the total.
 */
export class AddJournal {
  private readonly context: KeystoreContext
  private readonly ttlMs: number
  private writer = newWriterId()
  private seq = 0
  private running = 0
  private refresher: NodeJS.Timeout | undefined

  constructor(context: KeystoreContext, ttlMs = DEFAULT_WRITER_TTL_MS) {
    if (!(Number.isInteger(ttlMs) && ttlMs >= 100)) throw new Error(`writerTtlMs: expected an integer of at least 100, got ${ttlMs}`)
    this.context = context
    this.ttlMs = ttlMs
  }

  /** Opens an entry for one add: its name, and the liveness key and expiry to set with it. */
  begin(): { token: string; writerKey: string; ttlMs: number } {
    if (this.running++ === 0) {
      // a single add slower than the expiry must not look dead: refresh while any runs
      this.refresher = setInterval(() => void this.refresh(), Math.floor(this.ttlMs / 3))
      this.refresher.unref()
    }
    return { token: `${this.writer}:${++this.seq}`, writerKey: this.writerKey(this.writer), ttlMs: this.ttlMs }
  }

  /** The add that begin() opened has ended (settled or failed). */
  end(): void {
    if (--this.running === 0) {
      clearInterval(this.refresher)
      this.refresher = undefined
    }
  }

  /**
   * After an add failed midway, its entry may or may not be in Redis, with some of its HSETs
   * run: this writer is declared dead (its liveness key deleted) and the client goes on under
   * a new name, so a repair treats that entry, if any, like one a killed process left.
   */
  async retire(): Promise<void> {
    const old = this.writer
    this.writer = newWriterId()
    await this.context.redis.del(this.writerKey(old))
  }

  private async refresh(): Promise<void> {
    try {
      await this.context.redis.set(this.writerKey(this.writer), '1', 'PX', this.ttlMs)
    } catch {
      // the next add sets it again; a lapse only costs extra dirty marks
    }
  }

  private writerKey(writer: string): string {
    return `${this.context.names.keystoreWriterPrefix}${writer}`
  }
}

function newWriterId(): string {
  return randomBytes(8).toString('hex')
}

export interface AddRepair {
  /** Entries of adds that died, whose buckets were marked dirty now. */
  readonly repaired: number
  /** Adds under way by live writers (a recount waits for none to be). */
  readonly running: number
  /** The recounted total, when a recount ran. */
  readonly total?: number
}

/**
 * Marks the buckets of adds that died and, when a total may be off (one died, or a remove
 * found it short) and no add is under way, recounts it: one script, so no write lands
 * between the count and the new total. The recount reads every bucket's HLEN inside Redis
 * (about 20 ms for 2^16 buckets); while adds keep running it waits for a later call.
 */
export async function repairUnsettledAdds(context: KeystoreContext, options: { recount?: boolean } = {}): Promise<AddRepair> {
  const { names } = context
  const [repaired, running, total] = await runScript(context.redis, 'sweepKeystoreRepair',
    [names.keystoreUnsettled, names.keystoreRecountNeeded, names.dirty, names.keystoreGeneration, names.keystoreConfig, names.keystoreRebucket],
    [names.keystoreWriterPrefix, names.keystoreBuckets, names.keystoreTotal(0).slice(0, -1), options.recount ? '1' : '']) as [number, number, number]
  return total < 0 ? { repaired, running } : { repaired, running, total }
}
