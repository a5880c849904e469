import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomCids, tempDir } from './helpers.ts'
import { cidOf, ClusterFixture } from './lib/cluster.ts'
import { waitUntil } from './lib/processes.ts'

const CIDS = 2000
const STORE = fileURLToPath(new URL('../libs/store/src/index.ts', import.meta.url))

/**
 * The intake of a coordinator, as its own process: it adds the multihashes in file natively
 * and is SIGKILLed the moment Redis answered the HSETs, before they are counted and their
 * buckets marked dirty (where a SIGTERM mid-POST used to land).
 */
async function addAndDieBeforeSettling(redisUrl: string, namespace: string, file: string): Promise<NodeJS.Signals | null> {
  const code = `
    import { readFileSync } from 'node:fs'
    import { connectRedis, Keystore } from ${JSON.stringify(STORE)}
    const redis = connectRedis(process.env.REDIS_URL)
    const keystore = await Keystore.open(redis, { namespace: process.env.NAMESPACE })
    redis.sweepKeystoreSettle = () => process.kill(process.pid, 'SIGKILL')
    const keys = readFileSync(process.env.KEYS_FILE, 'utf8').trim().split('\\n').map((line) => Buffer.from(line, 'hex'))
    await keystore.addCount(keys, { markDirty: true })
    process.exit(3)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, REDIS_URL: redisUrl, NAMESPACE: namespace, KEYS_FILE: file }, stdio: ['ignore', 'inherit', 'inherit']
  })
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
}

describe('an add killed between storing its keys and marking them', () => {
  let fixture: ClusterFixture
  beforeAll(async () => { fixture = await ClusterFixture.start('crash-add', 40) }, 180_000)
  afterAll(async () => { await fixture?.stop() })

  it('a retry of its keys reports them stored, gets them provided within seconds, and the total comes out exact', async () => {
    const cluster = fixture.cluster({ namespace: 'crash-add' })
    await cluster.startCoordinator('coordinator-1')
    await cluster.startWorker('worker-1')
    await cluster.waitForCycle() // the first pass is done: from here on only dirty marks make jobs

    const keys = await randomCids(CIDS)
    const file = join(await tempDir('crash-add-keys'), 'keys.txt')
    await writeFile(file, keys.map((k) => Buffer.from(k.multihash).toString('hex')).join('\n'))
    expect(await addAndDieBeforeSettling(fixture.redis.url, 'crash-add', file)).toBe('SIGKILL')
    expect((await cluster.stats()).keys.total).toBe(0) // stored, not counted

    const retried = Date.now()
    const answer = await cluster.provide(keys.map((k) => cidOf(k.multihash)))
    expect(answer).toMatchObject({ accepted: CIDS, added: 0, duplicates: CIDS })

    // every key on some holder is not yet the region done: its sends may still be under way
    const recall = await waitUntil('every retried key provided', async () => {
      const { mean, perKey } = await fixture.testnet.recall(keys.map((k) => k.multihash))
      return perKey.every((r) => r > 0) && mean >= 0.9 ? mean : undefined
    }, 60_000, 1000)
    const seconds = (Date.now() - retried) / 1000
    console.log(`retried keys provided ${seconds.toFixed(1)} s after the retry, recall ${recall.toFixed(4)}`)
    expect(seconds).toBeLessThan(30)
    expect(recall).toBeGreaterThanOrEqual(0.9)

    // the coordinator's repair recounts once the dead writer lapsed (5 s)
    await waitUntil('the total recounted', async () => (await cluster.stats()).keys.total === CIDS ? true : undefined, 30_000, 500)
    const stopped = await cluster.api('/v1/stop', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: keys.slice(0, 500).map((k) => cidOf(k.multihash)).join('\n') })
    expect(stopped.body).toMatchObject({ removed: 500 })
    expect((await cluster.stats()).keys.total).toBe(CIDS - 500)
    await cluster.stop()
  }, 300_000)
})
