/**
 * The web dashboard in Debian's Chromium, headless, against a real cluster: real Redis, real
 * kad-dht servers, real coordinator and worker processes. What the page renders is compared
 * with what the API answers, and a screenshot is kept in test/artifacts/.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomCids } from './helpers.ts'
import { cidOf, ClusterFixture, type Stats } from './lib/cluster.ts'
import { waitUntil } from './lib/processes.ts'

const TOKEN = 'web-dashboard-test-token'
/** Debian's package; .ci/run installs it. */
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = join(import.meta.dirname, 'artifacts', 'web-dashboard.png')

/** The number a tile or cell shows, as the page wrote it in data-value (the text is formatted). */
async function valueOf(page: Page, testid: string): Promise<number> {
  return Number(await page.getByTestId(testid).getAttribute('data-value'))
}

/** One attribute of every element with this test id, in page order. */
async function attributes(page: Page, testid: string, name: string): Promise<Array<string | null>> {
  return Promise.all((await page.getByTestId(testid).all()).map((element) => element.getAttribute(name)))
}

describe("the web dashboard in Debian's Chromium against a real cluster", () => {
  let fixture: ClusterFixture
  let browser: Browser

  beforeAll(async () => {
    // a missing browser is a failure, not a skip: CI must not pass without running the page
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`)
    ;[fixture, browser] = await Promise.all([
      // 60 servers make a few regions, so the ring has more than one arc to count
      ClusterFixture.start('web-dashboard', 60),
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
    ])
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await fixture?.stop()
  })

  it('shows the regions, counts, workers and queue /v1/stats gives, finds a CID, and updates live', async () => {
    const cluster = fixture.cluster({ namespace: 'dashboard', apiToken: TOKEN })
    const keys = await cluster.startProvided(500)

    // behind the same token as the API: no page, no stream without it
    expect((await fetch(`${cluster.apiUrl}/`)).status).toBe(401)
    expect((await fetch(`${cluster.apiUrl}/v1/events`)).status).toBe(401)
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } })
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    expect((await page.goto(`${cluster.apiUrl}/`))?.status()).toBe(401)

    // ?token= puts the token in a cookie and redirects to a URL without it
    const loaded = await page.goto(`${cluster.apiUrl}/?token=${TOKEN}`)
    expect(loaded?.status()).toBe(200)
    expect(page.url()).toBe(`${cluster.apiUrl}/`)
    await page.getByTestId('connection').and(page.locator('[data-state="live"]')).waitFor({ timeout: 10_000 })

    // the page's numbers are the API's; both are read after the cluster went idle
    const stats = (await cluster.api<Stats & { queues: Record<string, number> }>('/v1/stats')).body
    expect(stats.keys.regions).toBeGreaterThan(1)
    expect(await page.getByTestId('region-arc').count()).toBe(stats.keys.regions)
    expect(await valueOf(page, 'regions-count')).toBe(stats.keys.regions)
    expect(await valueOf(page, 'keys-total')).toBe(stats.keys.total)
    expect(stats.keys.total).toBe(keys.length)
    const workers = await attributes(page, 'worker-row', 'data-key')
    expect(workers).toEqual(stats.workers.map((w) => w.id))
    // what each worker runs, from the queue: nothing once the cycle is done
    expect((await cluster.api<{ running: unknown[] }>('/v1/dashboard')).body.running).toEqual([])
    expect(await attributes(page, 'worker-row', 'data-running')).toEqual(stats.workers.map(() => ''))
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed']) {
      expect(await valueOf(page, `queue-${state}`), state).toBe(stats.queues[state])
    }
    // every arc is one of the schedule's regions, and the arcs cover the keyspace once
    const snapshot = (await cluster.api<{ regions: Array<{ prefix: string; lastReprovide: number | null }> }>('/v1/dashboard')).body
    const prefixes = await attributes(page, 'region-arc', 'data-prefix')
    expect(prefixes.sort()).toEqual(snapshot.regions.map((r) => r.prefix).sort())
    expect(prefixes.reduce((sum, p) => sum + 2 ** -(p ?? '').length, 0)).toBeCloseTo(1, 9)

    // a searched CID shows the region /v1/cids/{cid} names, and its arc is marked
    const cid = cidOf(keys[7].multihash)
    const status = (await cluster.api<{ region: string; stored: boolean }>(`/v1/cids/${cid}`)).body
    await page.getByTestId('cid-input').fill(cid)
    await page.getByTestId('cid-form').getByRole('button').click()
    const region = page.getByTestId('cid-region')
    await region.waitFor()
    expect(await region.getAttribute('data-value')).toBe(status.region)
    expect(await page.getByTestId('cid-stored').textContent()).toBe('yes')
    await page.locator(`[data-testid="region-arc"][data-prefix="${status.region}"].selected`).waitFor({ timeout: 5000 })

    // live: the stream brings new snapshots, and a provide reaches the page without a reload
    const before = await valueOf(page, 'updated-at')
    await waitUntil('a newer snapshot on the page', async () => ((await valueOf(page, 'updated-at')) > before ? true : undefined), 10_000, 100)
    const more = await randomCids(200)
    await cluster.provide(more.map((k) => cidOf(k.multihash)))
    const total = keys.length + more.length
    await waitUntil('the new keys on the page', async () => ((await valueOf(page, 'keys-total')) === total ? true : undefined), 15_000, 100)
    await cluster.waitForCycle()
    // the leader writes a result's counters just after its regions: compare until both settle
    await waitUntil('the page to show the records the API counts', async () =>
      ((await valueOf(page, 'records-sent')) === (await cluster.stats()).provides.recordsSent ? true : undefined), 10_000, 200)
    expect(await page.getByTestId('throughput').locator('rect').count()).toBe(60)
    // the regions the new keys went out in reached the page as updates: the arcs are the schedule's again
    const provided = (await cluster.api<{ regions: Array<{ prefix: string; lastReprovide: number | null }> }>('/v1/dashboard')).body.regions
    const expected = provided.map((r) => `${r.prefix}@${r.lastReprovide}`).sort()
    await waitUntil('the arcs to show every region\'s last provide', async () => {
      const [prefixes, times] = await Promise.all([attributes(page, 'region-arc', 'data-prefix'), attributes(page, 'region-arc', 'data-last-reprovide')])
      const shown = prefixes.map((prefix, i) => `${prefix}@${times[i]}`).sort()
      return JSON.stringify(shown) === JSON.stringify(expected) ? true : undefined
    }, 10_000, 200)
    expect(provided.some((r) => snapshot.regions.some((before) => before.prefix === r.prefix && before.lastReprovide !== r.lastReprovide))).toBe(true)

    await mkdir(join(import.meta.dirname, 'artifacts'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    expect(errors).toEqual([])
    await page.close()
    await cluster.stop()
  }, 150_000)
})
