/** Child processes never outlive the testnet: not after stop(), not after the parent is killed. */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { startTestnet, type TestnetInfo } from '../src/index.ts'

const PARENT = fileURLToPath(new URL('./fixtures/parent.ts', import.meta.url))

/** Running, and not a zombie: an orphan's exit is reaped by whatever pid 1 is here, maybe late. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no procfs: trust kill(0)
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return cond()
}

describe('testnet child processes', () => {
  it('exit on stop(), and stop() is idempotent', async () => {
    const net = await startTestnet({ nodes: 4, processes: 2 })
    const { pids } = net.info()
    expect(pids).toHaveLength(2)
    expect(pids.every(alive)).toBe(true)
    await Promise.all([net.stop(), net.stop()])
    await net.stop()
    expect(await waitFor(() => !pids.some(alive), 5_000)).toBe(true)
    await expect(net.holdersOfMany([])).rejects.toThrow(/stopped/)
  })

  it('exit when their parent is killed with SIGKILL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'testnet-orphan-'))
    const file = join(dir, 'info.json')
    const parent = spawn(process.execPath, [PARENT, file], { stdio: 'inherit' })
    let pids: number[] = []
    try {
      const ready = await waitFor(async () => {
        try {
          return (JSON.parse(await readFile(file, 'utf8')) as TestnetInfo).pids.length === 2
        } catch {
          return false
        }
      }, 60_000)
      expect(ready).toBe(true)
      pids = (JSON.parse(await readFile(file, 'utf8')) as TestnetInfo).pids
      expect(pids.every(alive)).toBe(true)
      parent.kill('SIGKILL')
      expect(await waitFor(() => !pids.some(alive), 10_000)).toBe(true)
    } finally {
      parent.kill('SIGKILL')
      // if the test failed, don't leave the orphans running
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
