import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateIdentity, loadIdentity } from '../src/index.ts'

describe('identity', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sweep-identity-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('round-trips: the loaded key has the generated peer id, and the file is private', async () => {
    const file = join(dir, 'a.key')
    const generated = await generateIdentity(file)
    const loaded = await loadIdentity(file)
    expect(peerIdFromPrivateKey(loaded).toString()).toBe(peerIdFromPrivateKey(generated).toString())
    expect(loaded.type).toBe('Ed25519')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('refuses to overwrite without force, and overwrites with it', async () => {
    const file = join(dir, 'b.key')
    const first = await generateIdentity(file)
    await expect(generateIdentity(file)).rejects.toThrow(/b\.key already exists/)
    expect(peerIdFromPrivateKey(await loadIdentity(file)).equals(peerIdFromPrivateKey(first))).toBe(true)
    await writeFile(file, await readFile(file), { mode: 0o644 })
    const second = await generateIdentity(file, { force: true })
    expect(peerIdFromPrivateKey(await loadIdentity(file)).equals(peerIdFromPrivateKey(second))).toBe(true)
    expect(peerIdFromPrivateKey(second).equals(peerIdFromPrivateKey(first))).toBe(false)
  })

  it('names the file when it is garbage or missing', async () => {
    const garbage = join(dir, 'garbage.key')
    await writeFile(garbage, 'not a key at all\n')
    await expect(loadIdentity(garbage)).rejects.toThrow(/garbage\.key is not a protobuf-encoded libp2p private key/)
    await expect(loadIdentity(join(dir, 'missing.key'))).rejects.toThrow(/missing\.key does not exist/)
  })
})
