import { describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { goSkipReason } from '../../../libs/testnet/test/go-available.ts'

const BIN = fileURLToPath(new URL('../bin/sweep.js', import.meta.url))
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 })
const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }

describe('sweep keygen', () => {
  it('writes a private key readable only by its owner and refuses to overwrite it', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'sweep-cli-')), 'provider.key')
    const first = run('keygen', '--out', file)
    expect(first.status).toBe(0)
    expect(first.stdout).toMatch(/provider peer ID 12D3KooW\w+/)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const again = run('keygen', '--out', file)
    expect(again.status).toBe(1)
    expect(again.stderr).toContain(file)
    expect(run('keygen', '--out', file, '--force').status).toBe(0)
  })

  it('exits 2 naming the flag when one is missing or malformed', () => {
    const missing = run('keygen')
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('--out')
    const bad = run('testnet', '--nodes', 'many', '--info', '/tmp/x.json')
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('--nodes')
  })
})

interface WrittenInfo {
  nodes: Array<{ peerId: string; impl: string; state: string }>
  bootstrap: string[]
  pids: number[]
  impl: string
  latency: { meanMs: number; jitterMs: number }
  control: string
}

describe.skipIf(goSkipReason != null)('[go] sweep testnet', () => {
  it('[go] runs a mixed network with its faults, takes more at run time, and stops every process on SIGTERM', async () => {
    const info = join(await mkdtemp(join(tmpdir(), 'sweep-cli-')), 'net.json')
    const child = spawn(process.execPath, [BIN, 'testnet', '--nodes', '12', '--impl', 'mixed', '--unreachable', '0.25', '--latency', '40', '--jitter', '5', '--info', info],
      { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk) => { stderr += chunk })
    const deadline = Date.now() + 90_000
    while (!stderr.includes('Ctrl-C stops them') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    expect(existsSync(info), stderr).toBe(true)
    const written = JSON.parse(await readFile(info, 'utf8')) as WrittenInfo
    expect(written.nodes).toHaveLength(12)
    expect(written.impl).toBe('mixed')
    expect(written.nodes.filter((n) => n.impl === 'go')).toHaveLength(6)
    expect(written.nodes.filter((n) => n.state === 'unreachable')).toHaveLength(3)
    const bootstrapIds = written.bootstrap.map((b) => b.slice(b.lastIndexOf('/') + 1))
    expect(written.nodes.filter((n) => n.state === 'unreachable').some((n) => bootstrapIds.includes(n.peerId))).toBe(false)
    expect(written.latency).toEqual({ meanMs: 40, jitterMs: 5 })
    expect(written.bootstrap.every((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+$/.test(a))).toBe(true)
    expect(written.pids.every(alive)).toBe(true)

    const killed = await fetch(`${written.control}/faults`, { method: 'POST', body: JSON.stringify({ kill: 0.25, latencyMs: 0 }) })
    expect(killed.status).toBe(200)
    const answer = await killed.json() as { killed: string[]; latency: { meanMs: number } }
    expect(answer.killed).toHaveLength(2)
    expect(answer.latency.meanMs).toBe(0)
    const now = await (await fetch(`${written.control}/info`)).json() as WrittenInfo
    expect(now.nodes.filter((n) => n.state === 'stopped').map((n) => n.peerId).sort()).toEqual([...answer.killed].sort())
    const rewritten = JSON.parse(await readFile(info, 'utf8')) as WrittenInfo
    expect(rewritten.nodes.filter((n) => n.state === 'stopped')).toHaveLength(2)
    const bad = await fetch(`${written.control}/faults`, { method: 'POST', body: JSON.stringify({ kill: 2 }) })
    expect(bad.status).toBe(400)
    expect(await bad.text()).toContain('kill must be a fraction')

    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    await new Promise((r) => setTimeout(r, 500))
    expect(written.pids.filter(alive)).toEqual([])
  }, 120_000)
})
