/** `sweep scale N` changes the worker count of a running `sweep up`, as /v1/stats shows. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runSweep, SWEEP_BIN } from './run-sweep.ts'

const TOKEN = 'scale-test-token'

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

describe('sweep scale', () => {
  let up: ChildProcess | undefined
  afterAll(async () => {
    if (up !== undefined && up.exitCode === null) {
      const exited = new Promise((resolve) => up!.once('exit', resolve))
      up.kill('SIGTERM')
      await exited
    }
  })

  it('scales a running sweep up from 1 worker to 2 and back to 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sweep-scale-'))
    const refused = await runSweep(['scale', '2', '--dir', dir])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain(`no sweep up is running in ${dir}`)

    up = spawn(process.execPath, [SWEEP_BIN, 'up', '--testnet', '4', '--impl', 'js', '--workers', '1', '--redis', 'private', '--api', '127.0.0.1:0', '--dir', dir],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SWEEP_API_TOKEN: TOKEN } })
    let stderr = ''
    up.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const apiUrl = await waitFor('sweep up to be ready', async () => /API +(http:\/\/\S+)/.exec(stderr)?.[1], 120_000)
    const workers = async () => {
      const res = await fetch(`${apiUrl}/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })
      return ((await res.json()) as { workers: Array<{ id: string }> }).workers.map((w) => w.id).sort()
    }
    expect(await workers()).toEqual(['worker-1'])
    // each process's /metrics, as sweep up printed them, answers with its own role's metrics
    const metrics = /metrics +(.+)/.exec(stderr)?.[1] ?? ''
    const urls = Object.fromEntries([...metrics.matchAll(/(\S+) (http:\/\/\S+\/metrics)/g)].map(([, name, url]) => [name, url]))
    expect(Object.keys(urls)).toEqual(['coordinator', 'worker-1'])
    expect(await (await fetch(urls.coordinator)).text()).toContain('sweep_queue_jobs')
    expect(await (await fetch(urls['worker-1'])).text()).toMatch(/^sweep_\w+/m)
    // the dashboard URL it printed signs a browser in: the token goes into a cookie, then to the page
    const dashboard = /dashboard +(http:\/\/\S+)/.exec(stderr)?.[1]
    expect(dashboard).toBe(`${apiUrl}/?token=${encodeURIComponent(TOKEN)}`)
    const signIn = await fetch(dashboard!, { redirect: 'manual' })
    expect(signIn.status).toBe(303)
    expect((await fetch(`${apiUrl}/`, { headers: { cookie: signIn.headers.get('set-cookie')!.split(';')[0] } })).status).toBe(200)

    const bad = await runSweep(['scale', 'two', '--dir', dir])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('expected an integer ≥ 0')

    const grown = await runSweep(['scale', '2', '--dir', dir])
    expect(grown.stderr).toBe('')
    expect(grown.stdout).toContain('sweep scale: 2 workers; started worker-2')
    await waitFor('the scale to be logged with worker-2\'s metrics URL', async () => /scaled to 2 workers; started worker-2 http:\/\/\S+\/metrics/.exec(stderr)?.[0], 10_000)
    // scale answers once the new worker registered
    expect(await workers()).toEqual(['worker-1', 'worker-2'])

    const shrunk = await runSweep(['scale', '1', '--dir', dir])
    expect(shrunk.stdout).toContain('sweep scale: 1 workers; stopping worker-2')
    // the stopped worker drops its heartbeat on the way out, well before it would expire (15 s)
    const after = await waitFor('worker-2 to leave the stats', async () => {
      const ids = await workers()
      return ids.length === 1 ? ids : undefined
    }, 10_000)
    expect(after).toEqual(['worker-1'])
    expect(up.exitCode).toBeNull()
  }, 180_000)
})
