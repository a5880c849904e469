/**
 * A coordinator told to stop lets the requests under way finish before it closes Redis: a
 * provide half sent when stop() is called still stores every key and answers 200.
 */
import { request } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { connectRedis, Keystore, waitForRedis } from '@sweep/store'
import { defaultCoordinatorConfig, startCoordinator } from '../src/index.ts'
import { cids, startTestRedis, type TestRedis } from './api-fixture.ts'

function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) })
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(true))
  })
}

describe('stopping a coordinator', () => {
  let redis: TestRedis

  beforeAll(async () => { redis = await startTestRedis('api-drain') })
  afterAll(async () => { await redis?.stop() })

  it('finishes a provide that is under way, stores all its keys, and only then closes Redis', async () => {
    const coordinator = await startCoordinator({
      ...defaultCoordinatorConfig, redisUrl: redis.server.url, namespace: 'drain',
      api: { host: '127.0.0.1', port: 0 }, metrics: { host: '127.0.0.1', port: 0 }
    }, pino({ level: 'silent' }))
    const all = cids(200_000, 9)
    const half = all.length / 2
    let answer: { status: number; body: Record<string, unknown> } | Error | undefined
    const req = request(`${coordinator.apiUrl}/v1/provide`, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += chunk.toString() })
      res.on('end', () => { answer = { status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> } })
    })
    const answered = new Promise<void>((resolve) => { req.on('close', resolve) })
    req.on('error', (error) => { answer = error })
    req.write(`${all.slice(0, half).join('\n')}\n`)
    await new Promise((resolve) => setTimeout(resolve, 200))

    const stopped = coordinator.stop()
    // the rest goes only once the server has stopped taking connections, so the request is surely under way then
    const deadline = Date.now() + 20_000
    while (!(await refusesConnections(coordinator.apiUrl)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await refusesConnections(coordinator.apiUrl)).toBe(true)
    req.end(all.slice(half).join('\n'))
    await answered
    await stopped

    expect(answer).toEqual({ status: 200, body: expect.objectContaining({ accepted: all.length, added: all.length, invalidCount: 0 }) })
    const client = connectRedis(redis.server.url, { name: 'drain-check' })
    try {
      await waitForRedis(client, redis.server.url)
      expect(await (await Keystore.open(client, { namespace: 'drain' })).total()).toBe(all.length)
    } finally {
      client.disconnect()
    }
  }, 60_000)
})
