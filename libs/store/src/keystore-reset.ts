import {
  ADDED_KEPT, addToGeneration, deleteGeneration, STORED_ALREADY, WRITE_CHUNK, type KeystoreContext
} from './keystore-generations.ts'
import { runScript } from './scripts.ts'

export interface ResetOutcome {
  /** Keys in the new set. */
  readonly total: number
  /** Keys of the old set that are not in the new one. */
  readonly removed: number
  /** Keys of the new set that were not in the old one. */
  readonly added: number
}

/**
 * A replacement of the whole key set, built in a new generation beside the current
 * one. Nothing changes for readers until commit(); dropping the object (or the
 * process dying) leaves the old set current, and the next Keystore.open deletes the
 * half-built generation once its lock has expired.
 */
export interface KeystoreReset {
  readonly generation: number
  /** Adds permanent keys to the new set; returns how many were new to it. */
  add(multihashes: readonly Uint8Array[]): Promise<number>
  /**
   * Makes the new set current in one step and starts deleting the old one in the
   * background (see `cleaned`). removed and added are exact as long as the old set
   * did not change while the reset was being built.
   */
  commit(): Promise<ResetOutcome>
  /** Drops the new set; the old one stays current. */
  abort(): Promise<void>
  /** Settles when the old generation's buckets are gone after commit (or the new ones after abort). */
  readonly cleaned: Promise<void>
}

export class GenerationReset implements KeystoreReset {
  readonly generation: number
  private readonly context: KeystoreContext
  private readonly baseGeneration: number
  private readonly lockTtlMs: number
  /** Keys added to the new set that were already in the old one. */
  private kept = 0
  private state: 'building' | 'committed' | 'aborted' = 'building'
  private resolveCleaned!: (cleanup: Promise<void>) => void
  readonly cleaned: Promise<void>

  constructor(context: KeystoreContext, generation: number, baseGeneration: number, lockTtlMs: number) {
    this.context = context
    this.generation = generation
    this.baseGeneration = baseGeneration
    this.lockTtlMs = lockTtlMs
    this.cleaned = new Promise<Promise<void>>((resolve) => { this.resolveCleaned = resolve }).then((cleanup) => cleanup)
    this.cleaned.catch(() => {})
  }

  async add(multihashes: readonly Uint8Array[]): Promise<number> {
    this.assertBuilding('add to')
    if (multihashes.length === 0) return 0
    const { redis, names } = this.context
    const renewed = await runScript(redis, 'sweepKeystoreRenewReset', [names.keystoreResetLock], [this.generation, this.lockTtlMs])
    if (renewed !== 1) throw this.lockLost()
    // if the lock expires from here on, the writes land in a generation nobody will commit, which the next open deletes
    let added = 0
    for (let start = 0; start < multihashes.length; start += WRITE_CHUNK) {
      const chunk = multihashes.slice(start, start + WRITE_CHUNK)
      const outcomes = await addToGeneration(this.context, this.generation, chunk, { compareWith: this.baseGeneration })
      let fresh = 0
      for (const outcome of outcomes) {
        if (outcome !== STORED_ALREADY) fresh++
        if (outcome === ADDED_KEPT) this.kept++
      }
      if (fresh > 0) await redis.incrby(names.keystoreTotal(this.generation), fresh)
      added += fresh
    }
    return added
  }

  async commit(): Promise<ResetOutcome> {
    this.assertBuilding('commit')
    const { names } = this.context
    const switched = await runScript(this.context.redis, 'sweepKeystoreCommitReset',
      [names.keystoreResetLock, names.keystoreGeneration, names.keystoreTotal(this.baseGeneration), names.keystoreTotal(this.generation)],
      [this.generation]) as number[]
    if (switched.length === 0) throw this.lockLost()
    this.state = 'committed'
    const [old, oldTotal, total] = switched
    this.resolveCleaned(deleteGeneration(this.context, old))
    return { total, removed: Math.max(0, oldTotal - this.kept), added: total - this.kept }
  }

  async abort(): Promise<void> {
    if (this.state !== 'building') return
    this.state = 'aborted'
    await runScript(this.context.redis, 'sweepLeaseRelease', [this.context.names.keystoreResetLock], [this.generation])
    const cleanup = deleteGeneration(this.context, this.generation)
    this.resolveCleaned(cleanup)
    await cleanup
  }

  private assertBuilding(action: string): void {
    if (this.state !== 'building') throw new Error(`cannot ${action} a reset that was already ${this.state}`)
  }

  private lockLost(): Error {
    return new Error(`the reset of generation ${this.generation} lost its lock (idle longer than ${this.lockTtlMs} ms, or cleaned up by another process); the old set is still current`)
  }
}
