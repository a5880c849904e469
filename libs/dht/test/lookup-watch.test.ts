import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { kadKeyOf, prefixOf } from '@sweep/keyspace'
import { AnswerTimes, FailedPeers, HostLag, isTimeoutError, LookupWatch } from '@sweep/dht'

const rule = { k: 3, answerTimes: 4, minQuietMs: 250, maxQuietMs: 3000 }

/** A kad key at XOR distance `d` (in its first byte) from the all-zero target. */
const at = (d: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? d : 0))
const target = at(0)

describe('LookupWatch', () => {
  it('settles with k answers once nothing awaited could enter the result, or after a quiet period of 4× the p90 answer time', () => {
    let now = 0
    const watch = new LookupWatch(rule, new AnswerTimes(), target, () => now)
    for (const [p, d] of [['a', 10], ['b', 20], ['c', 30], ['near', 5], ['far', 40]] as const) watch.dialling(p, at(d))
    for (const p of ['a', 'b', 'c']) watch.sent(p)
    now = 100
    watch.answered('a')
    watch.answered('b')
    expect(watch.settled()).toBe(false)
    watch.answered('c')
    // 'near' could still enter the 3 closest: wait for it, up to the quiet period (answers took 100 ms: 400 ms)
    expect(watch.settled()).toBe(false)
    expect(watch.quietMs()).toBe(400)
    now = 499
    expect(watch.settled()).toBe(false)
    now = 500
    expect(watch.settled()).toBe(true)
    // without 'near', only 'far' is awaited, and it is farther than the third answer: no need to wait at all
    expect(watch.failed('near')).toBe(500)
    now = 501
    // ...beyond one answer time after the last news (here the 250 ms floor), for the closer peers an answer may have named
    expect(watch.settled()).toBe(false)
    now = 751
    expect(watch.settled()).toBe(true)
    // dialled 751 ms ago, longer than the 400 ms quiet period: silent
    expect(watch.stuck()).toEqual([{ peer: 'far', waitedMs: 751 }])
    // nobody left to wait for: the lookup ends on its own, no cut
    watch.failed('far')
    expect(watch.settled()).toBe(false)
  })

  it('tells a peer that could not be dialled from one that failed after its request went out', () => {
    let now = 0
    const watch = new LookupWatch(rule, new AnswerTimes(), target, () => now)
    watch.dialling('x', at(1))
    watch.dialling('y', at(2))
    watch.sent('y')
    expect(watch.slow()).toEqual(['y'])
    // a dial is stuck only once it has lasted a whole quiet period (3 s before any answer)
    now = 2999
    expect(watch.stuck()).toEqual([])
    now = 3000
    expect(watch.stuck()).toEqual([{ peer: 'x', waitedMs: 3000 }])
    expect(watch.failed('x')).toBe(3000)
    expect(watch.failed('y')).toBeUndefined()
    expect(watch.slow()).toEqual([])
  })

  it('keeps the quiet period within its bounds', () => {
    const fast = new AnswerTimes()
    fast.add(1)
    expect(new LookupWatch(rule, fast, target).quietMs()).toBe(250)
    const slow = new AnswerTimes()
    slow.add(5000)
    expect(new LookupWatch(rule, slow, target).quietMs()).toBe(3000)
  })
})

describe('FailedPeers', () => {
  it('refuses dials to a failed peer for a minute, ten after a second failure, and forgets it once it answers', async () => {
    let now = 0
    const failed = new FailedPeers({ now: () => now })
    failed.mark('p')
    const gater = failed.gater()
    const peer = { toString: () => 'p' } as Parameters<NonNullable<typeof gater.denyDialPeer>>[0]
    const other = { toString: () => 'q' } as typeof peer
    expect(await gater.denyDialPeer!(peer)).toBe(true)
    expect(await gater.denyDialPeer!(other)).toBe(false)
    now = 60_000
    expect(await gater.denyDialPeer!(peer)).toBe(false)
    expect(failed.denied).toBe(1)
    expect(failed.size).toBe(0)
    // failed again: gone for ten minutes
    failed.mark('p')
    now = 60_000 + 599_999
    expect(failed.has('p')).toBe(true)
    now = 60_000 + 600_000
    expect(failed.has('p')).toBe(false)
    // it answered: a later failure is a first one again
    failed.alive('p')
    failed.mark('p')
    now += 60_000
    expect(failed.has('p')).toBe(false)
  })

  it('holds a timeout against the peer only when this host kept up while it waited', () => {
    // the host's event loop ran 400 ms late in the last 2 s, and kept up before
    const failed = new FailedPeers({ hostLag: (withinMs) => (withinMs >= 0 ? 400 : 0) })
    expect(failed.markTimedOut('starved', 5000)).toBe(false)
    expect(failed.has('starved')).toBe(false)
    expect(failed.excused).toBe(1)
    const calm = new FailedPeers({ hostLag: () => 20 })
    expect(calm.markTimedOut('silent', 5000)).toBe(true)
    expect(calm.has('silent')).toBe(true)
    expect(calm.excused).toBe(0)
    // a peer refused already stays refused, excused or not
    failed.mark('refused')
    expect(failed.markTimedOut('refused', 5000)).toBe(true)
    // markFailure excuses only timeouts: a refused connection counts on a stalled host too
    expect(failed.markFailure('slow', Object.assign(new Error('x'), { name: 'TimeoutError' }), 5000)).toBe(false)
    expect(failed.markFailure('down', new Error('connect ECONNREFUSED 127.0.0.1:4001'), 5000)).toBe(true)
    expect([failed.has('slow'), failed.has('down')]).toEqual([false, true])
  })

  it('names timeouts among dial and query errors', () => {
    const timeout = new Error('The operation was aborted due to timeout')
    timeout.name = 'EncryptionFailedError'
    expect(isTimeoutError(timeout)).toBe(true)
    expect(isTimeoutError(Object.assign(new Error('x'), { name: 'TimeoutError' }))).toBe(true)
    expect(isTimeoutError(new Error('connect ECONNREFUSED 127.0.0.1:4001'))).toBe(false)
    expect(isTimeoutError('timeout')).toBe(false)
  })

  it('forgets the oldest entries past its bound', () => {
    const failed = new FailedPeers({ maxEntries: 2 })
    for (const p of ['a', 'b', 'c']) failed.mark(p)
    expect([failed.has('a'), failed.has('b'), failed.has('c')]).toEqual([false, true, true])
  })

  it('reports as deaths only peers that had worked before they failed, with where their key sits', async () => {
    let now = 100
    const failed = new FailedPeers({ now: () => now })
    const [worked, never] = await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    failed.alive(worked.toString())
    now = 200
    failed.mark(worked.toString())
    failed.mark(never.toString())
    expect(failed.diedSince(150)).toEqual([{ prefix: prefixOf(kadKeyOf(worked.toMultihash().bytes), 32), at: 200 }])
    expect(failed.diedSince(201)).toEqual([])
  })
})

describe('HostLag', () => {
  it('reports how late the event loop ran within a window, and nothing from before it', async () => {
    let now = 0
    const lag = new HostLag(() => now)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const blockedUntil = Date.now() + 300
    while (Date.now() < blockedUntil) { /* hold the loop, as a starved host's timers are held */ }
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(lag.within(1000)).toBeGreaterThanOrEqual(250)
    // once its second is closed and older than the window asked about, the stall is not counted
    lag.roll()
    now = 5000
    lag.roll()
    expect(lag.within(1000)).toBeLessThan(250)
    lag.stop()
  })
})
