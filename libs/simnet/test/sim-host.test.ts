import { kadKeyOf } from '@sweep/keyspace'
import type { ProvideKey } from '@sweep/sweep'
import { describe, expect, it } from 'vitest'
import { SimKeySet } from '../src/sim-key-set.ts'
import { SimNetwork } from '../src/sim-network.ts'

const keysOf = (set: SimKeySet, from: number, to: number): ProvideKey[] => Array.from({ length: to - from }, (_, i) => set.at(from + i))

describe('SimHost connections', () => {
  it('opens one connection for repeated traffic to the same server', async () => {
    const network = SimNetwork.create({ servers: 100, seed: 1 })
    const host = network.createHost()
    const keys = keysOf(SimKeySet.generate(10, 1), 0, 10)
    const peer = network.peer(5)
    await network.clock.run(async () => {
      await host.send(peer, keys.slice(0, 5))
      await host.send(peer, keys.slice(5))
    })
    expect(host.stats().connectionsOpened).toBe(1)
    expect(host.isConnected(peer)).toBe(true)
  })

  it('shares one dial between concurrent requests to a server', async () => {
    const network = SimNetwork.create({ servers: 100, seed: 1 })
    const host = network.createHost()
    const keys = keysOf(SimKeySet.generate(3, 1), 0, 3)
    await network.clock.run(() => Promise.all(keys.map((key) => host.send(network.peer(9), [key]))))
    expect(host.stats().connectionsOpened).toBe(1)
    expect(host.stats().messagesSent).toBe(3)
  })

  it('evicts the least recently used connection past capacity', async () => {
    const network = SimNetwork.create({ servers: 100, seed: 2 })
    const host = network.createHost({ connectionCapacity: 3 })
    const [key] = keysOf(SimKeySet.generate(1, 2), 0, 1)
    const sendTo = (i: number) => host.send(network.peer(i), [key])
    await network.clock.run(async () => {
      await sendTo(1)
      await sendTo(2)
      await sendTo(3)
      await sendTo(1) // 1 is now the most recently used; 2 is the oldest
      await sendTo(4)
    })
    expect(host.connectedServers()).toEqual([3, 1, 4])
    expect(host.isConnected(network.peer(2))).toBe(false)
    expect(host.stats().connectionsOpened).toBe(4)
    await network.clock.run(() => sendTo(2))
    expect(host.stats().connectionsOpened).toBe(5)
    expect(host.connectedServers()).toEqual([1, 4, 2])
  })
})

describe('SimHost.send', () => {
  it('delivers every key to a live server and charges dial + RTT + per-record time', async () => {
    const network = SimNetwork.create({ servers: 50, seed: 3, latency: { perRecordMs: 0.5 } })
    const host = network.createHost()
    const keys = keysOf(SimKeySet.generate(40, 3), 0, 40)
    const rtt = network.rttMs(7)
    const outcome = await network.clock.run(() => host.send(network.peer(7), keys))
    expect(outcome).toEqual({ sent: 40 })
    expect(network.clock.now()).toBe(2 * rtt + rtt + 40 * 0.5)
    expect(network.delivery.receivedPerServer[7]).toBe(40)
    expect(network.delivery.totalReceived).toBe(40)
    expect(host.stats()).toMatchObject({ sends: 1, sendFailures: 0, messagesSent: 40, connectionsOpened: 1 })
  })

  it('costs the dial timeout and delivers nothing to an unreachable server', async () => {
    const network = SimNetwork.create({ servers: 50, seed: 4 })
    network.setReachable(8, false)
    const host = network.createHost()
    const keys = keysOf(SimKeySet.generate(5, 4), 0, 5)
    const outcome = await network.clock.run(() => host.send(network.peer(8), keys))
    expect(outcome).toEqual({ sent: 0, error: 'unreachable' })
    expect(network.clock.now()).toBe(5000)
    expect(network.delivery.totalReceived).toBe(0)
    expect(host.stats()).toMatchObject({ sends: 1, sendFailures: 1, messagesSent: 0, connectionsOpened: 0 })
  })

  it('notices a connected server that went away by timing out', async () => {
    const network = SimNetwork.create({ servers: 50, seed: 4 })
    const host = network.createHost()
    const keys = keysOf(SimKeySet.generate(2, 4), 0, 2)
    await network.clock.run(() => host.send(network.peer(3), [keys[0]]))
    network.setReachable(3, false)
    const outcome = await network.clock.run(() => host.send(network.peer(3), [keys[1]]))
    expect(outcome.sent).toBe(0)
    expect(host.isConnected(network.peer(3))).toBe(false)
    expect(network.delivery.receivedPerServer[3]).toBe(1)
  })

  it('reports unknown peers without throwing', async () => {
    const network = SimNetwork.create({ servers: 10, seed: 5 })
    const host = network.createHost()
    const stranger = { id: 'x', key: new Uint8Array(32), addrs: [] }
    const outcome = await network.clock.run(() => host.send(stranger, keysOf(SimKeySet.generate(1, 5), 0, 1)))
    expect(outcome.sent).toBe(0)
    expect(outcome.error).toMatch(/unknown peer/)
  })

  it('drops about sendFailureRate of sends to live servers, reproducibly', async () => {
    const attempt = async () => {
      const network = SimNetwork.create({ servers: 200, seed: 6 })
      const host = network.createHost({ sendFailureRate: 0.25 })
      const keys = keysOf(SimKeySet.generate(1, 6), 0, 1)
      const outcomes = await network.clock.run(() => Promise.all(Array.from({ length: 2000 }, (_, i) => host.send(network.peer(i % 200), keys))))
      return { outcomes, stats: host.stats(), received: network.delivery.totalReceived }
    }
    const a = await attempt()
    const failed = a.outcomes.filter((o) => o.sent === 0).length
    expect(failed).toBeGreaterThan(400)
    expect(failed).toBeLessThan(600)
    expect(a.stats.sendFailures).toBe(failed)
    expect(a.received).toBe(2000 - failed)
    expect(a.outcomes.every((o) => (o.sent === 0) === (o.error !== undefined))).toBe(true)
    expect((await attempt()).outcomes).toEqual(a.outcomes)
  })
})

describe('delivery recording', () => {
  it('records exactly the servers each sampled key was sent to, duplicates included', async () => {
    const network = SimNetwork.create({ servers: 300, seed: 7, recordKeysWhere: (key) => key[31] % 2 === 0 })
    const host = network.createHost()
    const set = SimKeySet.generate(400, 7)
    const keys = keysOf(set, 0, 400)
    const expected = new Map<string, number[]>()
    const plan: [number, ProvideKey[]][] = []
    for (let s = 0; s < 300; s += 3) {
      const batch = keys.filter((_, i) => (i * 7 + s) % 11 === 0)
      plan.push([s, batch])
    }
    plan.push([0, plan[0][1].slice(0, 3)]) // a duplicate delivery
    for (const [s, batch] of plan) {
      for (const { key } of batch) {
        if (key[31] % 2 !== 0) continue
        const hex = Buffer.from(key).toString('hex')
        expected.set(hex, [...(expected.get(hex) ?? []), s])
      }
    }
    await network.clock.run(async () => {
      for (const [s, batch] of plan) expect((await host.send(network.peer(s), batch)).sent).toBe(batch.length)
    })
    for (const { key } of keys) {
      const want = key[31] % 2 === 0 ? expected.get(Buffer.from(key).toString('hex')) ?? [] : []
      expect([...network.delivery.recipientsOf(key)]).toEqual(want)
    }
    expect(network.delivery.sampledKeyCount).toBe(expected.size)
    const total = plan.reduce((n, [, batch]) => n + batch.length, 0)
    expect(network.delivery.totalReceived).toBe(total)
    expect(network.delivery.receivedPerServer.reduce((a, b) => a + b, 0)).toBe(total)
    expect(network.delivery.receivedPerServer[0]).toBe(plan[0][1].length + 3)
  })

  it('records no recipients with a null sampler, but still counts', async () => {
    const network = SimNetwork.create({ servers: 20, seed: 8 })
    network.delivery.recordKeysWhere(null)
    const host = network.createHost()
    const keys = keysOf(SimKeySet.generate(5, 8), 0, 5)
    await network.clock.run(() => host.send(network.peer(1), keys))
    expect(network.delivery.recipientsOf(keys[0].key)).toEqual([])
    expect(network.delivery.receivedPerServer[1]).toBe(5)
  })

  it('computes lookup targets as SHA-256 of the preimage', async () => {
    const network = SimNetwork.create({ servers: 500, seed: 9 })
    const host = network.createHost()
    const preimage = new TextEncoder().encode('hello')
    const found = await network.clock.run(() => host.getClosestPeers(preimage))
    expect(found[0].id).toBe(network.peer(network.trueClosest(kadKeyOf(preimage), 1)[0]).id)
  })
})
