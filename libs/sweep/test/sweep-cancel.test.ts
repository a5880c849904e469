import { describe, expect, it } from 'vitest'
import { SimKeySet, SimNetwork } from '@sweep/simnet'
import { sampleNetwork, Sweeper, type Peer, type RecordSender } from '@sweep/sweep'

describe('a cancelled region job', () => {
  it('sends no record after its signal fires, rejects with the reason, and releases every peer it sent to', async () => {
    const network = SimNetwork.create({ servers: 600, seed: 31 })
    const host = network.createHost()
    const keys = SimKeySet.generate(3000, 131)
    const controller = new AbortController()
    let sendsAfterAbort = 0
    let sends = 0
    const contacted = new Set<string>()
    const released = new Set<string>()
    const sender: RecordSender = {
      send: async (peer, batch) => {
        if (controller.signal.aborted) sendsAfterAbort++
        sends++
        contacted.add(peer.id)
        // the job is cancelled (a lost lock, its deadline) in the middle of sending
        if (sends === 10) controller.abort(new Error('lost the lock'))
        return host.send(peer, batch)
      },
      release: async (peers: readonly Peer[]) => { for (const p of peers) released.add(p.id) }
    }
    const outcome = await network.clock.run(async () => {
      const estimate = await sampleNetwork(host, 20)
      const sweeper = new Sweeper({ router: host, sender, keys, clock: network.clock }, { networkSize: estimate.size, sendConcurrency: 4 })
      return sweeper.sweepRegion('', { signal: controller.signal }).then(() => 'finished', (error: Error) => error.message)
    })
    expect(outcome).toBe('lost the lock')
    // the four sends already running when it fired may finish; no new one starts
    expect(sends).toBeLessThanOrEqual(10 + 3)
    expect(sendsAfterAbort).toBe(0)
    expect(network.delivery.totalReceived).toBeLessThan(keys.size * 20)
    expect([...contacted].every((id) => released.has(id))).toBe(true)
  })
})
