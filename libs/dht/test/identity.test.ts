import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { privateKeyToProtobuf, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'
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
    await expect(loadIdentity(garbage)).rejects.toThrow(/garbage\.key is not a libp2p private key in any format sweep reads \(libp2p protobuf/)
    const badConfig = join(dir, 'config')
    await writeFile(badConfig, JSON.stringify({ Identity: { PeerID: 'x' } }))
    await expect(loadIdentity(badConfig)).rejects.toThrow(/config is not a libp2p private key.*without a string Identity\.PrivKey/)
    await expect(loadIdentity(join(dir, 'missing.key'))).rejects.toThrow(/missing\.key does not exist/)
  })

  it('reads Kubo\'s key formats: the config\'s base64 Identity.PrivKey, the config file itself, and PEM PKCS#8', async () => {
    const generated = await generateIdentity(join(dir, 'kubo.key'))
    const id = peerIdFromPrivateKey(generated).toString()
    const base64 = Buffer.from(privateKeyToProtobuf(generated)).toString('base64')
    await writeFile(join(dir, 'privkey.txt'), `${base64}\n`)
    await writeFile(join(dir, 'kubo-config'), JSON.stringify({ Identity: { PeerID: id, PrivKey: base64 }, Addresses: {} }, null, 2))
    expect(peerIdFromPrivateKey(await loadIdentity(join(dir, 'privkey.txt'))).toString()).toBe(id)
    expect(peerIdFromPrivateKey(await loadIdentity(join(dir, 'kubo-config'))).toString()).toBe(id)

    // a PEM from outside libp2p: its peer id must come from the same public key node:crypto derives
    const { privateKey } = generateKeyPairSync('ed25519')
    await writeFile(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    const publicRaw = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url')
    const loaded = await loadIdentity(join(dir, 'key.pem'))
    expect(loaded.type).toBe('Ed25519')
    expect(peerIdFromPrivateKey(loaded).toString()).toBe(peerIdFromPublicKey(publicKeyFromRaw(publicRaw)).toString())

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    await writeFile(join(dir, 'rsa.pem'), rsa.export({ type: 'pkcs8', format: 'pem' }))
    expect((await loadIdentity(join(dir, 'rsa.pem'))).type).toBe('RSA')
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    await writeFile(join(dir, 'ec.pem'), ec.export({ type: 'pkcs8', format: 'pem' }))
    await expect(loadIdentity(join(dir, 'ec.pem'))).rejects.toThrow(/ec\.pem .*PEM keys of type ec are not supported/)
  })
})
