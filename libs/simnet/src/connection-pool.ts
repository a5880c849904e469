/**
 * The host's open connections, least recently used first. A Map keeps
 * insertion order, so re-inserting on use makes its first key the LRU victim.
 */
export class ConnectionPool {
  readonly capacity: number
  private readonly open = new Map<number, true>()

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`connection capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
  }

  get size(): number {
    return this.open.size
  }

  /** True when connected; marks the connection most recently used. */
  use(server: number): boolean {
    if (!this.open.delete(server)) return false
    this.open.set(server, true)
    return true
  }

  /** Adds a fresh connection; returns the evicted server when the pool was full. */
  add(server: number): number | undefined {
    if (this.use(server)) return undefined
    let evicted: number | undefined
    if (this.open.size >= this.capacity) {
      evicted = this.open.keys().next().value
      if (evicted !== undefined) this.open.delete(evicted)
    }
    this.open.set(server, true)
    return evicted
  }

  has(server: number): boolean {
    return this.open.has(server)
  }

  drop(server: number): void {
    this.open.delete(server)
  }

  /** Connected servers, least recently used first. */
  servers(): number[] {
    return [...this.open.keys()]
  }
}
