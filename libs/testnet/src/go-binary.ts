/**
 * Go programs of the test bed built on demand and cached by the hash of
 * their sources, so every test file and benchmark after the first starts at
 * once: gonet (go-libp2p-kad-dht servers and the go findProviders client,
 * in ../gonet) and the benchmarks' go programs.
 */
import { execFile, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const GONET_SOURCE = fileURLToPath(new URL('../gonet/', import.meta.url))
const CACHE = fileURLToPath(new URL('../../../node_modules/.cache/sweep-go/', import.meta.url))

export type GoBinary = { path: string; reason?: undefined } | { path: null; reason: string }

/** Whether `go` runs here; the reason when it doesn't. */
function goToolchain(): string | null {
  const probe = spawnSync('go', ['version'], { encoding: 'utf8' })
  return probe.status === 0 ? null : 'no Go toolchain on PATH (go-libp2p-kad-dht servers need one to build)'
}

const building = new Map<string, Promise<GoBinary>>()

/** The gonet binary; see goProgram. */
export function gonetBinary(log: (msg: string) => void = () => {}): Promise<GoBinary> {
  return goProgram(GONET_SOURCE, 'gonet', log)
}

/**
 * The path of the Go program in `source` built from its current sources,
 * building it first if needed (a clean module cache fetches modules through
 * the proxy: a minute or two); or the reason it can't be had. One build per
 * program per process.
 */
export function goProgram(source: string, name: string, log: (msg: string) => void = () => {}): Promise<GoBinary> {
  let pending = building.get(source)
  if (pending == null) {
    pending = build(source, name, log).catch((err: unknown) => {
      building.delete(source)
      throw err
    })
    building.set(source, pending)
  }
  return pending
}

async function build(source: string, name: string, log: (msg: string) => void): Promise<GoBinary> {
  const hash = await sourceHash(source)
  const target = join(CACHE, `${name}-${hash}`, name)
  if (existsSync(target)) return { path: target }
  const missing = goToolchain()
  if (missing != null) return { path: null, reason: missing }
  log(`${name}: building ${source} (cached by source hash ${hash})`)
  const started = Date.now()
  await mkdir(dirname(target), { recursive: true })
  // Build beside the target and rename: a concurrent build or a killed one never leaves a half-written binary.
  const partial = `${target}.${process.pid}.partial`
  try {
    await promisify(execFile)('go', ['build', '-trimpath', '-o', partial, '.'], { cwd: source, maxBuffer: 16 << 20 })
    await rename(partial, target)
  } catch (err) {
    await rm(partial, { force: true })
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`building ${name} failed: ${(err as Error).message}\n${stderr}`, { cause: err })
  }
  log(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return { path: target }
}

/** SHA-256 over the program's non-test Go sources (subpackages too) and its module files, in path order. */
async function sourceHash(source: string): Promise<string> {
  const names = (await readdir(source, { recursive: true })).filter((n) => (n.endsWith('.go') && !n.endsWith('_test.go')) || n === 'go.mod' || n === 'go.sum').sort()
  const hash = createHash('sha256')
  for (const name of names) hash.update(name).update('\0').update(await readFile(join(source, name))).update('\0')
  return hash.digest('hex').slice(0, 16)
}
