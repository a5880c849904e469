import { keyHead32, type KadKey } from '@sweep/keyspace'
import type { SortedKeys } from './sorted-keys.ts'

/** Asks one server for its closest contacts to the target; null when it never answered. */
export type FindNode = (server: number) => Promise<readonly number[] | null>

const UNQUERIED = 0
const IN_FLIGHT = 1
const ANSWERED = 2
const FAILED = 3

/**
 * Iterative Kademlia FIND_NODE. Keeps up to alpha queries in flight, always to
 * the closest unqueried candidates among the k closest not known to have
 * failed, and stops once those k have all answered. Resolves with them (fewer
 * when fewer servers answered), closest first. Queries still in flight then are
 * left to finish on their own; their answers are ignored, as a real client would.
 */
export function iterativeFindNode(keys: SortedKeys, target: KadKey, seeds: readonly number[], k: number, alpha: number, findNode: FindNode): Promise<number[]> {
  const targetHead = keyHead32(target)
  const state = new Map<number, number>()
  // Candidates closest first; lookups see a few hundred, so binary insertion is cheap.
  const byDistance: number[] = []

  const learn = (server: number): void => {
    if (state.has(server)) return
    state.set(server, UNQUERIED)
    let lo = 0
    let hi = byDistance.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (keys.compareDistance(target, targetHead, byDistance[mid], server) < 0) lo = mid + 1
      else hi = mid
    }
    byDistance.splice(lo, 0, server)
  }
  for (const server of seeds) learn(server)

  return new Promise((resolve) => {
    let inFlight = 0
    let finished = false

    const launch = (server: number): void => {
      state.set(server, IN_FLIGHT)
      inFlight++
      findNode(server).then(
        (contacts) => settle(server, contacts),
        () => settle(server, null)
      )
    }

    const settle = (server: number, contacts: readonly number[] | null): void => {
      inFlight--
      if (finished) return
      if (contacts === null) state.set(server, FAILED)
      else {
        state.set(server, ANSWERED)
        for (const contact of contacts) learn(contact)
      }
      advance()
    }

    const advance = (): void => {
      let considered = 0
      let converged = true
      for (let p = 0; p < byDistance.length && considered < k; p++) {
        const server = byDistance[p]
        const s = state.get(server)
        if (s === FAILED) continue
        considered++
        if (s === ANSWERED) continue
        converged = false
        if (s === UNQUERIED && inFlight < alpha) launch(server)
      }
      if (!converged) return
      finished = true
      resolve(byDistance.filter((server) => state.get(server) === ANSWERED).slice(0, k))
    }

    advance()
  })
}
