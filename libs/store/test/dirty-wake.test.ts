import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ScheduleStore, subscribeDirtyWake } from '../src/index.ts'
import { startTestRedis, type TestRedis } from './redis.ts'

let t: TestRedis
beforeAll(async () => { t = await startTestRedis() })
afterAll(async () => { await t.close() })

/** Resolves when the subscriber is in place: PUBSUB NUMSUB counts it. */
async function subscribed(channelPart: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const channels = await t.redis.pubsub('CHANNELS', `*${channelPart}*`) as string[]
    if (channels.length > 0) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('never subscribed')
}

describe('dirty-key wakeups', () => {
  it('reach a subscriber of the same namespace only, and stop after close', async () => {
    const woken: string[] = []
    const a = subscribeDirtyWake(t.redis, () => woken.push('a'), 'wake-a')
    const b = subscribeDirtyWake(t.redis, () => woken.push('b'), 'wake-b')
    await subscribed('wake-a')
    await subscribed('wake-b')
    await new ScheduleStore(t.redis, 'wake-a').announceDirty()
    for (let i = 0; i < 100 && woken.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(woken).toEqual(['a'])
    await a.close()
    await b.close()
    await new ScheduleStore(t.redis, 'wake-a').announceDirty()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(woken).toEqual(['a'])
  })
})
